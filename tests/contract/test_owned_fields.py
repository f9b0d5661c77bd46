"""The rendering the reconciler applied, recovered from the live object (`engine.owned`), on both
backends: what the server stores of an apply, and what re-applying it does.

What "recovered" is held to, for a rendering R applied and the object read back as L:
- `differences(R, owned_fields(L)) == []`: every field R sets is there, with the stored value
  (up to drift's normalisation: quantities, int-or-string);
- `differences(owned_fields(L), R) == []`: nothing else, except the defaults the server fills
  in inside a value it treats as a whole (atomic: volumeClaimTemplates, an env var's fieldRef);
- fields other managers own (the replicas of an autoscaled workload, the deployment
  controller's revision annotation, an image someone else forced) are not there.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from reconciler.cluster.protocol import INITIAL_REPLICAS_MANAGER, Cluster
from reconciler.engine.drift import Difference, differences
from reconciler.engine.owned import owned_fields, pack, strip_annotations, unpack
from tests.contract.conftest import wait_for
from tests.helpers import objects

SHA_A = "a" * 40
SHA_B = "b" * 40
REVISION = "deployment.kubernetes.io/revision"

K8S = """
web:
  cpus: 0.5
  mem: 1024
  instances: 3
  args: [--bind, 0.0.0.0]
  healthcheck_mode: http
  healthcheck_uri: /status
  env:
    FOO: bar
    OLD: only-in-a
scaled:
  cpus: 1.5
  mem: 512
  min_instances: 2
  max_instances: 5
db:
  cpus: 1
  mem: 1024
  instances: 2
  persistent_volumes:
    - container_path: /data
      size: 10
      mode: RW
      storage_class_name: standard
"""

#: Version B of `web`: another image (sha), FOO changed, OLD dropped, a command instead of args.
K8S_B = K8S.replace("    OLD: only-in-a\n", "").replace("    FOO: bar\n", "    FOO: baz\n") \
    .replace("  args: [--bind, 0.0.0.0]\n", "  cmd: python3 -m http.server 8888\n")

#: Defaults the server fills in inside values it treats as a whole (atomic), which the
#: reconciler thus owns without having set them, by kind (list indices left out).
_FIELD_REF = "spec.template.spec.containers[].env[].valueFrom.fieldRef.apiVersion"
FILLED = {"Deployment": [_FIELD_REF], "PodDisruptionBudget": [], "HorizontalPodAutoscaler": [],
          "StatefulSet": sorted([_FIELD_REF, *(f"spec.volumeClaimTemplates[].{f}"
                                               for f in ("apiVersion", "kind", "spec.volumeMode", "status"))])}


def rendered(instance: str, namespace: str, k8s: str = K8S, sha: str = SHA_A) -> dict[str, dict[str, Any]]:
    """The instance's objects by kind, moved into the test's namespace (no Namespace object)."""
    objs = objects(k8s, instance, deployed={f"norcal-prod.{instance}": sha})
    out = {}
    for kind, obj in objs.items():
        if kind != "Namespace":
            obj = copy.deepcopy(obj)
            obj["metadata"]["namespace"] = namespace
            out[kind] = obj
    return out


def apply_as_executor(cluster: Cluster, objs: dict[str, dict[str, Any]]) -> None:
    """Workload, then (autoscaled, on create) its first replicas by their own manager, then the rest."""
    workload = objs.get("Deployment") or objs["StatefulSet"]
    cluster.apply(workload)
    if "replicas" not in workload["spec"]:
        cluster.apply({"apiVersion": "apps/v1", "kind": workload["kind"],
                       "metadata": {"name": workload["metadata"]["name"],
                                    "namespace": workload["metadata"]["namespace"]},
                       "spec": {"replicas": objs["HorizontalPodAutoscaler"]["spec"]["minReplicas"]}},
                      field_manager=INITIAL_REPLICAS_MANAGER)
    for kind, obj in objs.items():
        if obj is not workload:
            cluster.apply(obj)


def read(cluster: Cluster, obj: dict[str, Any]) -> dict[str, Any]:
    return cluster.get(obj["kind"], obj["metadata"]["name"], obj["metadata"]["namespace"])


def filled_in(extra: list[Difference]) -> list[str]:
    """The paths of `differences(recovered, rendered)`: fields the rendering lacks (none it sets
    differently), list indices left out."""
    assert all(d.live is None for d in extra), extra
    return sorted({re.sub(r"\[[^\]]*\]", "[]", d.path) for d in extra})


@pytest.mark.parametrize("instance", ["web", "scaled", "db"])
def test_recovered_rendering_is_what_was_applied(cluster: Cluster, namespace: str, instance: str) -> None:
    objs = rendered(instance, namespace)
    apply_as_executor(cluster, objs)
    for kind, desired in objs.items():
        live = read(cluster, desired)
        recovered = owned_fields(live)
        assert recovered is not None, kind
        assert differences(desired, recovered) == [], f"{kind}: applied fields missing or changed"
        assert filled_in(differences(recovered, desired)) == FILLED[kind], kind
        assert "status" not in recovered and "managedFields" not in recovered["metadata"]
        assert (recovered["apiVersion"], recovered["kind"]) == (desired["apiVersion"], kind)
        assert recovered["metadata"]["name"] == desired["metadata"]["name"]
        assert recovered["metadata"]["namespace"] == namespace
        assert unpack(pack(recovered)) == recovered


def test_replicas_of_an_autoscaled_workload_are_not_recovered(cluster: Cluster, namespace: str) -> None:
    objs = rendered("scaled", namespace)
    apply_as_executor(cluster, objs)
    live = read(cluster, objs["Deployment"])
    assert live["spec"]["replicas"] == objs["HorizontalPodAutoscaler"]["spec"]["minReplicas"]
    recovered = owned_fields(live)
    assert recovered is not None and "replicas" not in recovered["spec"]
    initial = owned_fields(live, INITIAL_REPLICAS_MANAGER)
    assert initial is not None and initial["spec"] == {"replicas": live["spec"]["replicas"]}


def test_controller_annotation_is_not_recovered(cluster: Cluster, namespace: str) -> None:
    desired = rendered("web", namespace)["Deployment"]
    cluster.apply(desired)
    live = wait_for(lambda: (o := read(cluster, desired))["metadata"].get("annotations", {}).get(REVISION) and o,
                    what="the deployment controller's revision annotation")
    recovered = owned_fields(live)
    assert recovered is not None and "annotations" not in recovered["metadata"]


#: Fields a rendering sets to a zero value the server does not store (omitempty): owned, but
#: absent from the live object, so a recovered rendering lacks them.
UNSTORED = {"Deployment": {("f:spec", "f:minReadySeconds")}, "StatefulSet": {("f:spec", "f:minReadySeconds")},
            "PodDisruptionBudget": set(), "HorizontalPodAutoscaler": set()}


@pytest.mark.parametrize("instance", ["web", "scaled", "db"])
def test_reapplying_the_recovered_rendering_changes_no_value(cluster: Cluster, namespace: str,
                                                            instance: str) -> None:
    """Values stay; the reconciler only stops owning the zero values the server never stored.
    Controllers keep writing status (and the revision annotation) meanwhile on a real cluster,
    so the comparison leaves those out instead of expecting an unchanged resourceVersion."""
    objs = rendered(instance, namespace)
    apply_as_executor(cluster, objs)
    for kind, desired in objs.items():
        before = read(cluster, desired)
        recovered = owned_fields(before)
        assert recovered is not None
        after = cluster.apply(recovered)
        assert values(after) == values(before), kind
        assert owned_fields(after) == recovered, kind
        released = field_paths(entry(before)) - field_paths(entry(after))
        assert (released, field_paths(entry(after)) - field_paths(entry(before))) == (UNSTORED[kind], set()), kind
        # From then on the recovered rendering is a fixed point: applying it again changes nothing.
        again = cluster.apply(recovered)
        assert (values(again), entry(again)) == (values(after), entry(after)), kind


def values(obj: dict[str, Any]) -> dict[str, Any]:
    """What an apply by the reconciler can change, but for managedFields: spec, labels,
    annotations (the controller's revision annotation left out), generation."""
    meta = obj["metadata"]
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != REVISION}
    return {"spec": obj.get("spec"), "labels": meta.get("labels"), "annotations": annotations,
            "generation": meta.get("generation")}


def entry(obj: dict[str, Any]) -> dict[str, Any]:
    """The reconciler's Apply entry of managedFields, without its time."""
    found = [e for e in obj["metadata"]["managedFields"] if (e["manager"], e["operation"]) == ("reconciler", "Apply")]
    assert len(found) == 1, obj["metadata"]["managedFields"]
    return {k: v for k, v in found[0].items() if k != "time"}


def field_paths(managed: dict[str, Any]) -> set[tuple[str, ...]]:
    """The leaves of a FieldsV1 tree, as paths."""
    out: set[tuple[str, ...]] = set()

    def walk(tree: dict[str, Any], prefix: tuple[str, ...]) -> None:
        for key, sub in tree.items():
            if sub:
                walk(sub, prefix + (key,))
            else:
                out.add(prefix + (key,))
    walk(managed["fieldsV1"], ())
    return out


def test_recovered_rendering_is_the_latest_apply(cluster: Cluster, namespace: str) -> None:
    a = rendered("web", namespace)["Deployment"]
    b = rendered("web", namespace, K8S_B, SHA_B)["Deployment"]
    cluster.apply(a)
    cluster.apply(b)
    live = read(cluster, a)
    recovered = owned_fields(live)
    assert recovered is not None
    assert differences(b, recovered) == []
    assert filled_in(differences(recovered, b)) == FILLED["Deployment"]
    container = recovered["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].endswith(SHA_B)
    assert "args" not in container and container["command"] == ["sh", "-c", "python3 -m http.server 8888"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["FOO"] == "baz" and "OLD" not in env
    assert recovered["metadata"]["labels"]["paasta.yelp.com/git_sha"] == SHA_B


def test_field_forced_by_another_manager_is_not_recovered(cluster: Cluster, namespace: str) -> None:
    desired = rendered("web", namespace)["Deployment"]
    cluster.apply(desired)
    name = desired["metadata"]["name"]
    container = desired["spec"]["template"]["spec"]["containers"][0]["name"]
    cluster.apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
                   "spec": {"template": {"spec": {"containers": [{"name": container, "image": "other:v9"}]}}}},
                  field_manager="kubectl-edit")
    recovered = owned_fields(read(cluster, desired))
    assert recovered is not None
    assert differences(desired, recovered) == [
        Difference(f"spec.template.spec.containers[{container}].image", desired["spec"]["template"]["spec"]["containers"][0]
                   ["image"], None)]


def test_last_healthy_rendering_rides_along_and_rolls_back(cluster: Cluster, namespace: str) -> None:
    """The flow auto_rollback relies on: the apply that starts B's bounce carries A's recovered
    rendering in an annotation; re-applying it later brings A back in full."""
    mark = "paasta.yelp.com/last-healthy"
    a = rendered("web", namespace)["Deployment"]
    b = rendered("web", namespace, K8S_B, SHA_B)["Deployment"]
    cluster.apply(a)
    recovered_a = owned_fields(read(cluster, a))
    assert recovered_a is not None
    b["metadata"]["annotations"] = {mark: pack(strip_annotations(recovered_a, [mark]))}
    cluster.apply(b)
    live_b = read(cluster, b)
    assert unpack(live_b["metadata"]["annotations"][mark]) == recovered_a
    recovered_b = owned_fields(live_b)
    assert recovered_b is not None and differences(b, recovered_b) == []
    rollback = unpack(live_b["metadata"]["annotations"][mark])
    cluster.apply(rollback)
    live = read(cluster, a)
    assert differences(a, live) == []
    assert mark not in (live["metadata"].get("annotations") or {}), "B's annotation went with B's rendering"
    container = live["spec"]["template"]["spec"]["containers"][0]
    assert "command" not in container and "OLD" in {e["name"] for e in container["env"]}
