"""Inputs of the golden tests: objects as the reconciler renders them, and apply scenarios.

`capture.py` sends them to a real API server and records the answers in real_server.json;
`test_golden.py` replays them against the simulated cluster and compares.
"""

from __future__ import annotations

import copy
from typing import Any

Obj = dict[str, Any]

PLURALS = {"Namespace": ("/api/v1", "namespaces"), "Deployment": ("/apis/apps/v1", "deployments"),
           "StatefulSet": ("/apis/apps/v1", "statefulsets"),
           "PodDisruptionBudget": ("/apis/policy/v1", "poddisruptionbudgets"),
           "HorizontalPodAutoscaler": ("/apis/autoscaling/v2", "horizontalpodautoscalers")}


def plural_path(kind: str, namespace: str | None, name: str) -> str:
    base, plural = PLURALS[kind]
    if kind == "Namespace":
        return f"{base}/namespaces/{name}"
    return f"{base}/namespaces/{namespace}/{plural}/{name}"


CONTROLLER_ANNOTATIONS = ("deployment.kubernetes.io/revision",)


def reduce(obj: dict[str, Any]) -> dict[str, Any]:
    """Only what the server decides deterministically from the applies."""
    obj = copy.deepcopy(obj)
    meta = obj["metadata"]
    for key in ("uid", "resourceVersion", "creationTimestamp"):
        meta.pop(key, None)
    annotations = meta.get("annotations") or {}
    for key in CONTROLLER_ANNOTATIONS:
        annotations.pop(key, None)
    if "annotations" in meta and not annotations:
        del meta["annotations"]
    meta["managedFields"] = [
        {k: v for k, v in entry.items() if k != "time"}
        for entry in meta.get("managedFields", []) if entry.get("subresource") != "status"
    ]
    if obj["kind"] != "Namespace":
        obj.pop("status", None)
    return obj


D = "paasta.yelp.com/"
SHA = "5d0c8e7b6a9f4e3d2c1b0a9f8e7d6c5b4a3f2e1d"
IMAGE = f"services-hello_world:paasta-{SHA}"


def _env(instance: str) -> list[dict[str, str]]:
    pairs = [("PAASTA_SERVICE", "hello_world"), ("PAASTA_INSTANCE", instance), ("PAASTA_CLUSTER", "local"),
             ("PAASTA_DEPLOY_GROUP", f"local.{instance}"), ("PAASTA_DOCKER_IMAGE", IMAGE),
             ("PAASTA_GIT_SHA", SHA[:8]), ("PAASTA_RESOURCE_CPUS", "0.25"), ("PAASTA_RESOURCE_MEM", "256"),
             ("PAASTA_RESOURCE_DISK", "1024"), ("LOG_LEVEL", "info"), ("PAASTA_PORT", "8888")]
    return [{"name": k, "value": v} for k, v in pairs]


def _probe() -> Obj:
    return {"failureThreshold": 30, "initialDelaySeconds": 5, "periodSeconds": 10, "timeoutSeconds": 10,
            "httpGet": {"path": "/", "port": 8888, "scheme": "HTTP"}}


def rendered(instance: str = "main", kind: str = "Deployment", replicas: int | None = 3,
             unavailable: str = "5%") -> Obj:
    """A workload shaped exactly like reconciler.render's output for hello_world."""
    selector = {D + "service": "hello_world", D + "instance": instance}
    labels = {**selector, D + "git_sha": SHA, D + "managed": "true", D + "autoscaled": "false",
              D + "cluster": "local", D + "config_sha": "config6aff7379"}
    container: Obj = {
        "name": instance, "image": IMAGE, "command": ["sh", "-c", "python3 -m http.server 8888"],
        "ports": [{"containerPort": 8888}], "env": _env(instance),
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi", "ephemeral-storage": "1024Mi"},
                      "limits": {"cpu": "1250m", "memory": "256Mi", "ephemeral-storage": "1024Mi"}},
        "livenessProbe": _probe(), "readinessProbe": _probe(),
    }
    spec: Obj = {}
    if replicas is not None:
        spec["replicas"] = replicas
    spec.update({"selector": {"matchLabels": selector}, "minReadySeconds": 0, "revisionHistoryLimit": 2})
    if kind == "Deployment":
        spec["strategy"] = {"type": "RollingUpdate",
                            "rollingUpdate": {"maxSurge": "100%", "maxUnavailable": unavailable}}
        spec["progressDeadlineSeconds"] = 600
    else:
        spec["serviceName"] = f"hello--world-{instance}"
        spec["podManagementPolicy"] = "OrderedReady"
        spec["volumeClaimTemplates"] = [
            {"metadata": {"name": "pv--slash-data"},
             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}},
            {"metadata": {"name": "pv--slash-logs"},
             "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast",
                      "resources": {"requests": {"storage": "1Gi"}}}},
        ]
        container["volumeMounts"] = [{"name": "pv--slash-data", "mountPath": "/data"},
                                     {"name": "pv--slash-logs", "mountPath": "/logs", "readOnly": True}]
    spec["template"] = {"metadata": {"labels": {**labels, D + "deploy_group": f"local.{instance}"}},
                        "spec": {"containers": [container]}}
    return {"apiVersion": "apps/v1", "kind": kind,
            "metadata": {"name": f"hello--world-{instance}", "namespace": "NS", "labels": labels},
            "spec": spec}


def _sts() -> Obj:
    sts = rendered("db", "StatefulSet")
    pod = sts["spec"]["template"]["spec"]
    pod["terminationGracePeriodSeconds"] = 60
    pod["nodeSelector"] = {"pool": "default"}
    pod["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "a", "operator": "In", "values": ["b"]}, {"key": "c", "operator": "Exists"}]}]}}}
    container = pod["containers"][0]
    container["livenessProbe"] = {"failureThreshold": 3, "initialDelaySeconds": 5, "periodSeconds": 10,
                                  "timeoutSeconds": 10, "tcpSocket": {"port": 8888}}
    container["readinessProbe"] = {"failureThreshold": 3, "initialDelaySeconds": 5, "periodSeconds": 10,
                                   "timeoutSeconds": 10, "exec": {"command": ["/bin/sh", "-c", "true"]}}
    return sts


def _meta(name: str, labels: dict[str, str] | None = None) -> Obj:
    meta: Obj = {"name": name, "namespace": "NS"}
    if labels:
        meta["labels"] = labels
    return meta


def simple(name: str, image: str = "nginx:1", replicas: int | None = None, **spec: Any) -> Obj:
    body: Obj = {}
    if replicas is not None:
        body["replicas"] = replicas
    body.update({"selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "c", "image": image}]}}})
    body.update(spec)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(name), "spec": body}


def _quantities() -> Obj:
    dep = simple("quantities")
    dep["spec"]["template"]["spec"]["containers"] = [
        {"name": "a", "image": "x:1", "resources": {
            "requests": {"cpu": "0.5", "memory": "2048Ki", "ephemeral-storage": "1000Mi"},
            "limits": {"cpu": "2000m", "memory": "1.5Gi", "ephemeral-storage": "1073741824"}}},
        {"name": "b", "image": "x:1", "resources": {
            "requests": {"cpu": "100m", "memory": "1e3"},
            "limits": {"cpu": "1.5", "memory": "1000000"}}},
        {"name": "c", "image": "x:1", "resources": {
            "requests": {"cpu": "0.1", "memory": "0.5Gi"},
            "limits": {"cpu": "1", "memory": "1000M"}}},
    ]
    return dep


def _zero() -> Obj:
    container = {"name": "a", "image": "nginx:1", "args": [], "command": [], "workingDir": "", "stdin": False,
                 "tty": False, "env": [{"name": "E", "value": ""}], "ports": [{"containerPort": 80, "name": ""}],
                 "volumeMounts": [{"name": "v", "mountPath": "/v", "readOnly": False, "subPath": ""}],
                 "livenessProbe": {"tcpSocket": {"port": 80}, "initialDelaySeconds": 0, "timeoutSeconds": 0,
                                   "periodSeconds": 0, "successThreshold": 0, "failureThreshold": 0},
                 "resources": {"requests": {}, "limits": {"cpu": "0.5"}},
                 "securityContext": {"privileged": False, "runAsNonRoot": False, "runAsUser": 0,
                                     "capabilities": {"add": [], "drop": []}},
                 "lifecycle": {}}
    pod = {"containers": [container], "initContainers": [], "volumes": [{"name": "v", "emptyDir": {}}],
           "hostNetwork": False, "terminationGracePeriodSeconds": 0, "automountServiceAccountToken": False,
           "enableServiceLinks": False, "serviceAccountName": "", "nodeSelector": {}, "tolerations": [],
           "affinity": {}, "imagePullSecrets": []}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "zero", "namespace": "NS", "labels": {}, "annotations": {}},
            "spec": {"replicas": 0, "paused": False, "minReadySeconds": 0, "revisionHistoryLimit": 0,
                     "selector": {"matchLabels": {"app": "zero"}, "matchExpressions": []},
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
                     "template": {"metadata": {"labels": {"app": "zero"}, "annotations": {}}, "spec": pod}}}


PDB: Obj = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": _meta("hello--world-main", {D + "service": "hello_world", D + "instance": "main",
                                                    D + "managed": "true", D + "cluster": "local",
                                                    D + "config_sha": "config3b189fa5"}),
            "spec": {"maxUnavailable": 1,
                     "selector": {"matchLabels": {D + "service": "hello_world", D + "instance": "main"}}}}

HPA: Obj = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": _meta("hello--world-auto", {D + "managed": "true"}),
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "hello--world-auto"},
                     "minReplicas": 2, "maxReplicas": 5,
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                         "type": "Utilization", "averageUtilization": 80}}}],
                     "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Max",
                                                "policies": [{"type": "Percent", "value": 30, "periodSeconds": 60}]}}}}

OBJECTS: dict[str, Obj] = {
    "namespace": {"apiVersion": "v1", "kind": "Namespace",
                  "metadata": {"name": "golden-ns-object", "labels": {D + "managed": "true"}}},
    "deployment": rendered(),
    "deployment_brutal": rendered("canary", replicas=1, unavailable="100%"),
    "deployment_autoscaled": rendered("auto", replicas=None),
    "statefulset": _sts(),
    "pdb": PDB,
    "pdb_percent": {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _meta("pdb-pct"),
                    "spec": {"maxUnavailable": "10%", "selector": {"matchLabels": {"a": "b"}}}},
    "hpa": HPA,
    "hpa_minimal": {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": _meta("hpa-min"),
                    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "nothing"},
                             "maxReplicas": 5}},
    "images": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta("images"), "spec": {
        "selector": {"matchLabels": {"app": "images"}},
        "template": {"metadata": {"labels": {"app": "images"}}, "spec": {"containers": [
            {"name": "a", "image": "nginx"}, {"name": "b", "image": "busybox:latest",
                                              "ports": [{"containerPort": 80, "name": "http"}]},
            {"name": "c", "image": "reg:5000/x:1.2@sha256:aaaa"}, {"name": "d", "image": "reg:5000/x"},
            {"name": "e", "image": "reg:5000/x@sha256:bbbb"}, {"name": "f", "image": "x:latest",
                                                                "imagePullPolicy": "Never"}]}}}},
    "statefulset_minimal": {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": _meta("minists"), "spec": {
        "selector": {"matchLabels": {"app": "minists"}}, "serviceName": "x",
        "template": {"metadata": {"labels": {"app": "minists"}}, "spec": {"containers": [
            {"name": "a", "image": "nginx:1"}]}}}},
    "recreate": simple("recreate", replicas=2, strategy={"type": "Recreate"}),
    "quantities": _quantities(),
    "zero": _zero(),
}


def _with(obj: Obj, *edits: tuple[str, Any]) -> Obj:
    """A copy with `a.b.c` paths set (None deletes)."""
    out = copy.deepcopy(obj)
    for path, value in edits:
        *parents, last = path.split(".")
        node = out
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        if value is None:
            if isinstance(node, list):
                del node[int(last)]
            else:
                node.pop(last, None)
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return out


def partial(kind: str, name: str, body: Obj, api: str = "apps/v1") -> Obj:
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": "NS", **body.pop("metadata", {})},
            **body}


BASE = simple("web", replicas=2)
BASE["metadata"]["labels"] = {"a": "1", "b": "2"}
BASE["metadata"]["annotations"] = {"note": "x"}
BASE["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]


def step(obj: Obj, manager: str = "reconciler", force: bool = True, **extra: Any) -> Obj:
    return {"object": obj, "manager": manager, "force": force, **extra}


SCENARIOS: dict[str, list[Obj]] = {
    "removal": [step(BASE), step(_with(BASE, ("metadata.labels.b", None), ("metadata.annotations", None),
                                       ("spec.template.spec.containers.0.env.1", None)))],
    "noop": [step(BASE), step(BASE), step(rendered()), step(rendered())],
    "shared_label_stays": [
        step(BASE),
        step(partial("Deployment", "web", {"metadata": {"labels": {"a": "1", "c": "3"}}}), "other", False),
        step(_with(BASE, ("metadata.labels.a", None))),
    ],
    "conflict": [
        step(BASE),
        step(partial("Deployment", "web", {"metadata": {"labels": {"a": "9"}}}), "other", False),
        step(partial("Deployment", "web", {"metadata": {"labels": {"a": "9"}}}), "other", True),
        step(BASE),
    ],
    "conflict_many": [
        step(BASE),
        step(partial("Deployment", "web", {"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 5}}), "other", False),
        step(partial("Deployment", "web", {"spec": {"replicas": 7, "template": {"spec": {"containers": [
            {"name": "c", "image": "nginx:2"}]}}}}), "third", False),
    ],
    "defaults_come_back": [
        step(_with(BASE, ("spec.strategy", {"type": "RollingUpdate",
                                            "rollingUpdate": {"maxSurge": "100%", "maxUnavailable": "5%"}}),
                   ("spec.revisionHistoryLimit", 2), ("spec.progressDeadlineSeconds", 60))),
        step(BASE),
    ],
    "to_recreate_explicit": [
        step(_with(BASE, ("spec.strategy", {"type": "RollingUpdate",
                                            "rollingUpdate": {"maxSurge": "100%", "maxUnavailable": "5%"}}))),
        step(_with(BASE, ("spec.strategy", {"type": "Recreate"}))),
    ],
    "to_recreate_from_defaults": [step(BASE), step(_with(BASE, ("spec.strategy", {"type": "Recreate"})))],
    "list_order": [
        step(_with(BASE, ("spec.template.spec.containers.0.env", [
            {"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "C", "value": "3"}]))),
        step(_with(BASE, ("spec.template.spec.containers.0.env", [
            {"name": "C", "value": "3"}, {"name": "A", "value": "1"}, {"name": "D", "value": "4"}]))),
    ],
    "containers_removed": [
        step(_with(BASE, ("spec.template.spec.containers", [{"name": "c", "image": "nginx:1"},
                                                           {"name": "side", "image": "side:1"}]))),
        step(BASE),
    ],
    "initial_replicas_manager": [
        step(_with(BASE, ("spec.replicas", 2)), "reconciler-initial-replicas"),
        step(_with(BASE, ("spec.replicas", None))),
        step(_with(BASE, ("spec.replicas", None))),
        step(_with(BASE, ("spec.replicas", 3))),
    ],
    "initial_replicas_partial": [
        step(_with(BASE, ("spec.replicas", None))),
        step(partial("Deployment", "web", {"spec": {"replicas": 3}}), "reconciler-initial-replicas"),
        step(_with(BASE, ("spec.replicas", None))),
    ],
    "generation": [
        step(BASE),
        step(_with(BASE, ("metadata.labels.a", "2"))),
        step(_with(BASE, ("metadata.annotations.note", "y"))),
        step(_with(BASE, ("spec.replicas", 4))),
        step(_with(BASE, ("spec.template.spec.containers.0.image", "nginx:2"))),
    ],
    "dry_run_create": [step(BASE, dry_run=True), step(BASE), step(_with(BASE, ("spec.replicas", 9)), dry_run=True),
                       step(BASE)],
    "selector_mismatch": [step(_with(BASE, ("spec.template.metadata.labels", {"app": "other"})))],
    "selector_immutable": [step(BASE), step(_with(BASE, ("spec.selector.matchLabels.x", "y"),
                                                  ("spec.template.metadata.labels.x", "y")))],
    "bad_name": [step(_with(BASE, ("metadata.name", "Bad_Name")))],
    "missing_namespace": [step(BASE, namespace="does-not-exist")],
    "sts_immutable": [
        step(OBJECTS["statefulset_minimal"]),
        step(_with(OBJECTS["statefulset_minimal"], ("spec.serviceName", "other"),
                   ("spec.podManagementPolicy", "Parallel"))),
        step(_with(OBJECTS["statefulset_minimal"], ("spec.replicas", 3), ("spec.updateStrategy", {
            "type": "RollingUpdate", "rollingUpdate": {"partition": 1}}))),
    ],
    "pdb_change": [step(PDB), step(_with(PDB, ("spec.maxUnavailable", "10%"))), step(_with(PDB, ("spec.maxUnavailable", None),
                                                                                      ("spec.minAvailable", 1)))],
    "hpa_change": [step(HPA), step(_with(HPA, ("spec.minReplicas", 3), ("spec.behavior", None)))],
    "namespace_labels": [
        step({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "golden-ns-labels", "labels": {"a": "1"}}}),
        step({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "golden-ns-labels", "labels": {"b": "2"}}}),
    ],
}
