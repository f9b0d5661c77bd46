"""What the API server stores for what the reconciler applies: defaults, omitempty, quantities."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from reconciler.cluster.sim.defaults import image_pull_policy, stored_form


def test_stored_form_matches_the_real_server(golden: dict[str, Any]) -> None:
    for name, case in golden["objects"].items():
        mine = stored_form(copy.deepcopy(case["input"]))
        real = copy.deepcopy(case["output"])
        real["metadata"].pop("managedFields")
        real["metadata"].pop("generation", None)
        if real["kind"] == "Namespace":
            mine.setdefault("spec", {})["finalizers"] = ["kubernetes"]  # set on create, see ssa
        else:
            mine.pop("status", None)
        assert mine == real, name


@pytest.mark.parametrize(("image", "policy"), [
    ("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.2", "IfNotPresent"),
    ("reg:5000/x", "Always"), ("reg:5000/x:1", "IfNotPresent"), ("reg:5000/x@sha256:ab", "IfNotPresent"),
    ("reg:5000/x:latest@sha256:ab", "Always"),
])
def test_image_pull_policy(image: str, policy: str) -> None:
    assert image_pull_policy(image) == policy


def test_deployment_defaults() -> None:
    out = stored_form({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": {
        "selector": {"matchLabels": {"a": "b"}},
        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [
            {"name": "c", "image": "i:1", "ports": [{"containerPort": 80}],
             "readinessProbe": {"httpGet": {"port": 80}, "initialDelaySeconds": 0}}]}}}})
    spec = out["spec"]
    assert spec["replicas"] == 1 and spec["revisionHistoryLimit"] == 10 and spec["progressDeadlineSeconds"] == 600
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    pod = spec["template"]["spec"]
    assert (pod["restartPolicy"], pod["dnsPolicy"], pod["schedulerName"]) == ("Always", "ClusterFirst",
                                                                              "default-scheduler")
    assert pod["terminationGracePeriodSeconds"] == 30 and pod["securityContext"] == {}
    container = pod["containers"][0]
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert container["readinessProbe"] == {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
                                           "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1,
                                           "failureThreshold": 3}
    assert container["resources"] == {} and container["terminationMessagePolicy"] == "File"


def test_recreate_gets_no_rolling_update_defaults() -> None:
    out = stored_form({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
                       "spec": {"strategy": {"type": "Recreate"}}})
    assert out["spec"]["strategy"] == {"type": "Recreate"}


def test_statefulset_defaults() -> None:
    out = stored_form({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "x"}, "spec": {
        "volumeClaimTemplates": [{"metadata": {"name": "d"}, "spec": {"resources": {"requests": {"storage": "1024Mi"}}}}]}})
    spec = out["spec"]
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0, "maxUnavailable": 1}}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    claim = spec["volumeClaimTemplates"][0]
    assert (claim["apiVersion"], claim["kind"], claim["status"]) == ("v1", "PersistentVolumeClaim", {"phase": "Pending"})
    assert claim["spec"]["volumeMode"] == "Filesystem"
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"


def test_hpa_defaults_fill_the_missing_scaling_rules() -> None:
    out = stored_form({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "x"},
                       "spec": {"maxReplicas": 3, "behavior": {"scaleUp": {"stabilizationWindowSeconds": 60}}}})
    spec = out["spec"]
    assert spec["minReplicas"] == 1
    assert spec["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 80}
    assert spec["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 60
    assert spec["behavior"]["scaleUp"]["policies"][0] == {"type": "Pods", "value": 4, "periodSeconds": 15}
    assert spec["behavior"]["scaleDown"] == {"selectPolicy": "Max", "policies": [
        {"type": "Percent", "value": 100, "periodSeconds": 15}]}


def test_omitempty_zero_values_go_pointers_stay() -> None:
    out = stored_form({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x", "labels": {}},
                       "spec": {"replicas": 0, "minReadySeconds": 0, "paused": False, "revisionHistoryLimit": 0,
                                "template": {"spec": {"terminationGracePeriodSeconds": 0, "containers": [
                                    {"name": "c", "image": "i:1", "args": [], "env": [{"name": "E", "value": ""}]}]}}}})
    assert "labels" not in out["metadata"]
    spec = out["spec"]
    assert spec["replicas"] == 0 and spec["revisionHistoryLimit"] == 0
    assert "minReadySeconds" not in spec and "paused" not in spec
    pod = spec["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 0
    assert "args" not in pod["containers"][0] and pod["containers"][0]["env"] == [{"name": "E"}]
