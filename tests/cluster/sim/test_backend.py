"""SimCluster as a backend of the cluster protocol: requests, errors, deletion, faults."""

from __future__ import annotations

import time
from typing import Any

import pytest

from reconciler.cluster.errors import Conflict, Forbidden, Invalid, NotFound, Timeout, Unavailable
from reconciler.cluster.sim import ManualClock, SimCluster
from tests.cluster.sim.conftest import deployment, statefulset
from tests.support.rollout import rollout


def names(items: list[dict[str, Any]]) -> list[str]:
    return [i["metadata"]["name"] for i in items]


def test_a_new_cluster_has_the_system_namespaces(cluster: SimCluster) -> None:
    assert names(cluster.list("Namespace")) == ["default", "kube-node-lease", "kube-public", "kube-system", "ns"]
    ns = cluster.get("Namespace", "ns")
    assert ns["spec"] == {"finalizers": ["kubernetes"]} and ns["status"] == {"phase": "Active"}
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "ns"}
    assert "generation" not in ns["metadata"]


def test_every_call_is_counted_once(cluster: SimCluster) -> None:
    before = cluster.counters.snapshot()
    cluster.apply(deployment())
    cluster.apply(deployment(), dry_run=True)
    cluster.get("Deployment", "web", "ns")
    cluster.list("Pod", namespace="ns")
    rollout(cluster, "Deployment", "web", "ns")
    cluster.delete("Deployment", "web", "ns", dry_run=True)
    with pytest.raises(NotFound):
        cluster.get("Deployment", "nope", "ns")
    cluster.delete("Deployment", "web", "ns")
    after = cluster.counters.snapshot()
    assert {k: after[k] - before[k] for k in after} == {"reads": 4, "writes": 2, "dry_runs": 2}


def test_objects_get_uid_resource_version_and_timestamps(cluster: SimCluster, clock: ManualClock) -> None:
    created = cluster.apply(deployment())
    meta = created["metadata"]
    assert len(meta["uid"]) == 36 and meta["creationTimestamp"] == "2026-01-01T00:00:00Z"
    assert meta["generation"] == 1 and int(meta["resourceVersion"]) > 0
    entry = meta["managedFields"][0]
    assert (entry["manager"], entry["operation"], entry["fieldsType"]) == ("reconciler", "Apply", "FieldsV1")
    clock.advance(1)
    later = cluster.get("Deployment", "web", "ns")["metadata"]
    assert int(later["resourceVersion"]) > int(meta["resourceVersion"])  # the controller wrote status
    assert later["uid"] == meta["uid"]


def test_no_op_apply_writes_nothing(cluster: SimCluster, clock: ManualClock) -> None:
    cluster.apply(deployment())
    clock.advance(5)
    settled = cluster.get("Deployment", "web", "ns")
    again = cluster.apply(deployment())
    assert again == settled


def test_dry_run_create_and_update(cluster: SimCluster) -> None:
    preview = cluster.apply(deployment(), dry_run=True)
    assert "resourceVersion" not in preview["metadata"] and preview["metadata"]["uid"]
    with pytest.raises(NotFound):
        cluster.get("Deployment", "web", "ns")
    live = cluster.apply(deployment())
    changed = cluster.apply(deployment(replicas=9), dry_run=True)
    assert changed["spec"]["replicas"] == 9
    assert changed["metadata"]["resourceVersion"] == cluster.get("Deployment", "web", "ns")["metadata"]["resourceVersion"]
    assert cluster.get("Deployment", "web", "ns")["spec"]["replicas"] == live["spec"]["replicas"]


def test_errors_like_the_api_server(cluster: SimCluster) -> None:
    with pytest.raises(NotFound, match='deployments.apps "nope" not found'):
        cluster.get("Deployment", "nope", "ns")
    with pytest.raises(NotFound, match='namespaces "elsewhere" not found'):
        cluster.apply(deployment(namespace="elsewhere"))
    with pytest.raises(NotFound):
        cluster.apply({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "x", "namespace": "ns"}})
    with pytest.raises(Invalid):
        cluster.list("Deployment", selector="a in (b")
    no_namespace = deployment()
    del no_namespace["metadata"]["namespace"]
    with pytest.raises(Invalid, match="metadata.namespace is required"):
        cluster.apply(no_namespace)
    with pytest.raises(Forbidden, match="may not be deleted"):
        cluster.delete("Namespace", "default")


def test_label_selectors(cluster: SimCluster) -> None:
    for name, labels in {"a": {"team": "x"}, "b": {"team": "y"}, "c": {"team": "x", "canary": "true"},
                         "d": {}}.items():
        obj = deployment(name=name)
        obj["metadata"]["labels"] = labels
        cluster.apply(obj)
    def select(selector: str) -> list[str]:
        return names(cluster.list("Deployment", selector=selector, namespace="ns"))
    assert select("team=x") == ["a", "c"]
    assert select("team==x,!canary") == ["a"]
    assert select("team!=x") == ["b", "d"]
    assert select("team") == ["a", "b", "c"]
    assert select("team in (x, y)") == ["a", "b", "c"]
    assert select("team notin (x)") == ["b", "d"]
    assert select("") == ["a", "b", "c", "d"]


def test_metadata_only_lists(cluster: SimCluster) -> None:
    cluster.apply(deployment())
    [item] = cluster.list("Deployment", namespace="ns", metadata_only=True)
    assert set(item) == {"apiVersion", "kind", "metadata"}
    assert item["metadata"]["labels"] == {"managed": "true"} and item["metadata"]["managedFields"]
    item["metadata"]["labels"]["mutated"] = "yes"  # results are the caller's to change
    [again] = cluster.list("Deployment", namespace="ns", metadata_only=True)
    assert "mutated" not in again["metadata"]["labels"]
    full = cluster.get("Deployment", "web", "ns")
    assert again["metadata"] == full["metadata"]


def test_full_workload_lists_are_fresh_and_current(cluster: SimCluster, clock: ManualClock) -> None:
    """Listed workloads come from a per-resourceVersion cache: never shared, never stale."""
    cluster.apply(deployment(replicas=1))
    [item] = cluster.list("Deployment", namespace="ns")
    assert item == cluster.get("Deployment", "web", "ns")
    item["spec"]["template"]["spec"]["containers"][0]["image"] = "mutated"  # the caller's to change
    item["metadata"]["labels"]["mutated"] = "yes"
    [again] = cluster.list("Deployment", namespace="ns")
    assert again == cluster.get("Deployment", "web", "ns") and "mutated" not in again["metadata"]["labels"]
    assert again["spec"]["template"]["spec"]["containers"][0]["image"] != "mutated"
    cluster.apply(deployment(replicas=3))  # a new resourceVersion: read again
    clock.advance(5)  # and the controllers write status
    [changed] = cluster.list("Deployment", namespace="ns")
    assert changed == cluster.get("Deployment", "web", "ns")
    assert changed["spec"]["replicas"] == 3 and changed["status"]["replicas"] == 3
    cluster.delete("Deployment", "web", "ns")
    cluster.apply(deployment(name="web", replicas=2))  # same name, another incarnation
    [recreated] = cluster.list("Deployment", namespace="ns")
    assert recreated["metadata"]["uid"] != changed["metadata"]["uid"] and recreated["spec"]["replicas"] == 2


def test_lists_are_sorted_and_scoped(cluster: SimCluster) -> None:
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
    cluster.apply(deployment(name="z"))
    cluster.apply(deployment(name="a", namespace="other"))
    cluster.apply(deployment(name="b"))
    everywhere = cluster.list("Deployment")
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in everywhere] == [
        ("ns", "b"), ("ns", "z"), ("other", "a")]
    assert names(cluster.list("Deployment", namespace="other")) == ["a"]


def test_delete_cascades(cluster: SimCluster, clock: ManualClock) -> None:
    cluster.apply(deployment(replicas=2))
    cluster.apply(statefulset(replicas=2, policy="Parallel"))
    clock.advance(1)
    cluster.delete("Deployment", "web", "ns", propagation="Foreground")
    assert cluster.list("ReplicaSet", namespace="ns") == []
    assert names(cluster.list("Pod", namespace="ns")) == ["db-0", "db-1"]
    cluster.delete("StatefulSet", "db", "ns")
    assert cluster.list("Pod", namespace="ns") == [] and cluster.list("ControllerRevision", namespace="ns") == []
    with pytest.raises(NotFound):
        cluster.delete("StatefulSet", "db", "ns")


def test_orphan_delete_keeps_the_replicaset(cluster: SimCluster, clock: ManualClock) -> None:
    cluster.apply(deployment(replicas=1))
    clock.advance(1)
    cluster.delete("Deployment", "web", "ns", propagation="Orphan")
    [rs] = cluster.list("ReplicaSet", namespace="ns")
    assert "ownerReferences" not in rs["metadata"]
    assert len(cluster.list("Pod", namespace="ns")) == 1


def test_deleting_a_pod_brings_a_replacement(cluster: SimCluster, clock: ManualClock) -> None:
    cluster.apply(deployment(replicas=2))
    clock.advance(1)
    first = names(cluster.list("Pod", namespace="ns"))
    cluster.delete("Pod", first[0], "ns")
    now = names(cluster.list("Pod", namespace="ns"))
    assert len(now) == 2 and first[0] not in now and first[1] in now


def test_uid_precondition(cluster: SimCluster) -> None:
    created = cluster.apply(deployment())
    with pytest.raises(Conflict, match="the UID in the precondition"):
        cluster.delete("Deployment", "web", "ns", uid="00000000-0000-0000-0000-000000000000")
    cluster.delete("Deployment", "web", "ns", uid=created["metadata"]["uid"])
    with pytest.raises(NotFound):
        cluster.get("Deployment", "web", "ns")


def test_bad_propagation_is_invalid(cluster: SimCluster) -> None:
    cluster.apply(deployment())
    with pytest.raises(Invalid):
        cluster.delete("Deployment", "web", "ns", propagation="Sideways")


def test_namespace_deletion_terminates_then_goes(cluster: SimCluster, clock: ManualClock) -> None:
    cluster.apply(deployment())
    cluster.delete("Namespace", "ns")
    assert cluster.list("Deployment", namespace="ns") == []
    ns = cluster.get("Namespace", "ns")
    assert ns["status"]["phase"] == "Terminating" and ns["metadata"]["deletionTimestamp"]
    with pytest.raises(Forbidden, match="because it is being terminated"):
        cluster.apply(deployment())
    clock.advance(1)
    with pytest.raises(NotFound):
        cluster.get("Namespace", "ns")
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})
    assert cluster.apply(deployment())["metadata"]["generation"] == 1


def test_other_kinds_round_trip(cluster: SimCluster) -> None:
    lease = cluster.apply({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                           "metadata": {"name": "reconciler-x", "namespace": "ns"},
                           "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}})
    assert lease["spec"] == {"holderIdentity": "me", "leaseDurationSeconds": 15}
    assert "generation" not in lease["metadata"]
    renewed = cluster.apply({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                             "metadata": {"name": "reconciler-x", "namespace": "ns"},
                             "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15,
                                      "renewTime": "2026-01-01T00:00:05.000000Z"}})
    assert renewed["metadata"]["resourceVersion"] != lease["metadata"]["resourceVersion"]


def test_fail_next_maps_statuses(cluster: SimCluster) -> None:
    cluster.faults.fail_next(2, status=503)
    with pytest.raises(Unavailable):
        cluster.get("Namespace", "ns")
    with pytest.raises(Unavailable):
        cluster.list("Namespace")
    cluster.get("Namespace", "ns")
    cluster.faults.fail_next(1, status=504)
    with pytest.raises(Timeout):
        cluster.apply(deployment())
    with pytest.raises(NotFound):
        cluster.get("Deployment", "web", "ns")  # the failed write stored nothing
    for status, error in ((409, Conflict), (403, Forbidden), (422, Invalid), (429, Unavailable)):
        cluster.faults.fail_next(1, status=status)
        with pytest.raises(error) as err:
            cluster.get("Namespace", "ns")
        assert err.value.status == status


def test_unreachable_and_latency(cluster: SimCluster) -> None:
    cluster.faults.unreachable(True)
    before = cluster.counters.snapshot()
    with pytest.raises(Unavailable):
        cluster.list("Deployment")
    assert cluster.counters.snapshot()["reads"] == before["reads"] + 1
    cluster.faults.unreachable(False)
    cluster.faults.latency(0.05)
    started = time.monotonic()
    cluster.get("Namespace", "ns")
    assert time.monotonic() - started >= 0.05
    cluster.faults.clear()


def test_state_survives_a_restart(state: Any, clock: ManualClock) -> None:
    first = SimCluster("a", state, clock=clock, controller_delay=0)
    first.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})
    created = first.apply(deployment(replicas=1))
    first.close()
    clock.advance(1)
    second = SimCluster("a", state, clock=clock, controller_delay=0)
    assert second.get("Deployment", "web", "ns")["metadata"]["uid"] == created["metadata"]["uid"]
    assert rollout(second, "Deployment", "web", "ns").complete
    second.close()


def test_controllers_act_a_moment_after_a_write(state: Any, clock: ManualClock) -> None:
    sim = SimCluster("delayed", state, clock=clock)  # default controller_delay: 0.1 s
    sim.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})
    first = sim.apply(deployment(replicas=1))
    again = sim.apply(deployment(replicas=1))  # nothing has happened yet: same resourceVersion
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert rollout(sim, "Deployment", "web", "ns").observed_generation == 0
    assert sim.list("ReplicaSet", namespace="ns") == []
    clock.advance(0.1)
    assert rollout(sim, "Deployment", "web", "ns").observed_generation == 1
    assert len(sim.list("Pod", namespace="ns")) == 1
    clock.advance(1)
    assert rollout(sim, "Deployment", "web", "ns").complete
    sim.close()


def test_an_unusable_state_file_is_a_cluster_error(tmp_path: Any) -> None:
    from reconciler.cluster.errors import ClusterError

    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(ClusterError, match="cannot use"):
        SimCluster("broken", tmp_path / "dir.sqlite")
