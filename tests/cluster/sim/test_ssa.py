"""Server-side apply: merge, removal of dropped fields, conflicts, ownership, no-ops (pure)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from reconciler.cluster.errors import ClusterError, Conflict
from reconciler.cluster.sim import managed, ssa
from tests.cluster.sim.conftest import deployment
from tests.cluster.sim.golden.scenarios import reduce

NOW = "2026-01-01T00:00:00Z"


def owners(obj: dict[str, Any]) -> dict[str, int]:
    return {e.manager: len(e.fields) for e in managed.parse(obj["metadata"])}


def applied(live: dict[str, Any] | None, config: dict[str, Any], manager: str = "reconciler",
            force: bool = True, now: str = NOW) -> dict[str, Any]:
    result = ssa.apply(live, config, manager, force, now)
    obj = result.obj
    obj["metadata"].setdefault("uid", "u")
    return obj


def test_replays_of_real_server_scenarios(golden: dict[str, Any]) -> None:
    """Every apply sequence recorded on a real API server gives the same objects, owners and errors."""
    for name, scenario in golden["scenarios"].items():
        store: dict[tuple[str, str], dict[str, Any]] = {}
        for index, (step, real) in enumerate(zip(scenario["steps"], scenario["results"])):
            if step.get("namespace") == "does-not-exist":
                continue  # the backend's business (see test_backend)
            obj = copy.deepcopy(step["object"])
            if obj["kind"] != "Namespace":
                obj["metadata"]["namespace"] = "golden-" + name.replace("_", "-")
            key = (obj["kind"], obj["metadata"]["name"])
            try:
                result = ssa.apply(store.get(key), obj, step["manager"], step["force"], f"2026-01-01T00:00:{index:02d}Z")
            except ClusterError as err:
                assert (err.status, str(err)) == (real["code"], real["message"]), (name, index)
                continue
            assert real["code"] == (201 if result.created else 200), (name, index)
            assert reduce(result.obj) == real["object"], (name, index)
            assert (result.changed and not step.get("dry_run")) == real["rv_changed"] or step.get("dry_run"), \
                (name, index)
            if not step.get("dry_run"):
                store[key] = result.obj


def test_dropped_fields_are_removed_others_kept() -> None:
    first = deployment()
    first["metadata"]["annotations"] = {"a": "1", "b": "2"}
    live = applied(None, first)
    live = applied(live, {"apiVersion": "apps/v1", "kind": "Deployment",
                          "metadata": {"name": "web", "namespace": "ns", "annotations": {"c": "3"}}}, "other")
    second = copy.deepcopy(first)
    second["metadata"]["annotations"] = {"a": "1"}
    out = applied(live, second)
    assert out["metadata"]["annotations"] == {"a": "1", "c": "3"}


def test_shared_field_survives_when_one_owner_drops_it() -> None:
    live = applied(None, deployment())
    live = applied(live, {"apiVersion": "apps/v1", "kind": "Deployment",
                          "metadata": {"name": "web", "namespace": "ns", "labels": {"managed": "true"}}}, "other")
    config = deployment()
    del config["metadata"]["labels"]
    out = applied(live, config)
    assert out["metadata"]["labels"] == {"managed": "true"}


def test_conflict_without_force_and_takeover_with_it() -> None:
    live = applied(None, deployment(replicas=2))
    patch = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "ns"},
             "spec": {"replicas": 5}}
    with pytest.raises(Conflict) as err:
        ssa.apply(live, patch, "intruder", False, NOW)
    assert str(err.value) == 'Apply failed with 1 conflict: conflict with "reconciler": .spec.replicas'
    taken = applied(live, patch, "intruder", force=True)
    assert taken["spec"]["replicas"] == 5
    entries = {e.manager: e.fields for e in managed.parse(taken["metadata"])}
    assert ("f:spec", "f:replicas") in entries["intruder"]
    assert ("f:spec", "f:replicas") not in entries["reconciler"]


def test_same_value_is_shared_not_a_conflict() -> None:
    live = applied(None, deployment(replicas=2))
    patch = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "ns"},
             "spec": {"replicas": 2}}
    out = applied(live, patch, "other", force=False)
    assert owners(out) == {"reconciler": owners(live)["reconciler"], "other": 1}


def test_no_op_apply_returns_the_live_object_unchanged() -> None:
    live = applied(None, deployment())
    live["metadata"]["resourceVersion"] = "7"
    result = ssa.apply(live, deployment(), "reconciler", True, "2026-01-01T00:09:00Z")
    assert not result.changed and result.obj is live


def test_generation_moves_on_spec_and_deployment_annotations_only() -> None:
    live = applied(None, deployment())
    assert live["metadata"]["generation"] == 1
    relabelled = deployment()
    relabelled["metadata"]["labels"]["x"] = "y"
    live = applied(live, relabelled)
    assert live["metadata"]["generation"] == 1
    annotated = copy.deepcopy(relabelled)
    annotated["metadata"]["annotations"] = {"note": "1"}
    live = applied(live, annotated)
    assert live["metadata"]["generation"] == 2  # Deployment annotations are copied to ReplicaSets
    scaled = copy.deepcopy(annotated)
    scaled["spec"]["replicas"] = 9
    assert applied(live, scaled)["metadata"]["generation"] == 3


def test_status_in_a_configuration_is_ignored() -> None:
    config = deployment()
    config["status"] = {"replicas": 99}
    assert applied(None, config)["status"] == {}


def test_undeclared_fields_are_refused() -> None:
    config = deployment()
    config["spec"]["bogus"] = 1
    with pytest.raises(ClusterError, match=r"\.spec\.bogus: field not declared in schema") as err:
        ssa.apply(None, config, "reconciler", True, NOW)
    assert err.value.status == 500


def test_removing_owned_defaults_brings_defaults_back() -> None:
    live = applied(None, deployment(strategy={"type": "RollingUpdate", "rollingUpdate": {
        "maxSurge": "100%", "maxUnavailable": "5%"}}))
    out = applied(live, deployment())
    assert out["spec"]["strategy"] == {"type": "RollingUpdate",
                                       "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}


def test_conflict_with_a_controller_names_its_operation() -> None:
    live = applied(None, deployment(replicas=2))
    live["metadata"]["managedFields"].append({
        "manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1",
        "time": "2026-01-01T00:00:01Z", "fieldsType": "FieldsV1", "subresource": "scale",
        "fieldsV1": {"f:spec": {"f:replicas": {}}}})
    patch = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "ns"},
             "spec": {"replicas": 7}}
    with pytest.raises(Conflict) as err:
        ssa.apply(live, patch, "someone", False, NOW)
    assert 'conflicts with "kube-controller-manager" with subresource "scale" using apps/v1:' in str(err.value)
