"""StatefulSets: ordered or parallel pods, rolling updates from the highest ordinal."""

from __future__ import annotations

from reconciler.cluster.sim import ManualClock, SimCluster
from tests.cluster.sim.conftest import statefulset
from tests.support.rollout import rollout


def pods(cluster: SimCluster) -> dict[str, tuple[str, bool]]:
    """pod name -> (revision hash tail, ready)."""
    out = {}
    for pod in cluster.list("Pod", namespace="ns", selector="app=db"):
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"]["conditions"])
        out[pod["metadata"]["name"]] = (pod["metadata"]["labels"]["controller-revision-hash"], ready)
    return out


def test_ordered_creation_one_pod_at_a_time(cluster: SimCluster, clock: ManualClock) -> None:
    cluster.apply(statefulset(replicas=3))
    assert list(pods(cluster)) == ["db-0"]
    clock.advance(1)
    assert list(pods(cluster)) == ["db-0", "db-1"]
    clock.advance(1)
    assert list(pods(cluster)) == ["db-0", "db-1", "db-2"]
    assert not rollout(cluster, "StatefulSet", "db", "ns").complete
    clock.advance(1)
    status = rollout(cluster, "StatefulSet", "db", "ns")
    assert status.complete and status.ready == 3 and status.update_revision == status.current_revision
    pod = cluster.get("Pod", "db-1", "ns")
    assert pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "db-1"
    assert pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "1"
    assert pod["spec"]["hostname"] == "db-1" and pod["spec"]["subdomain"] == "db"


def test_parallel_creation(cluster: SimCluster, clock: ManualClock) -> None:
    cluster.apply(statefulset(replicas=3, policy="Parallel"))
    assert list(pods(cluster)) == ["db-0", "db-1", "db-2"]
    clock.advance(1)
    assert rollout(cluster, "StatefulSet", "db", "ns").complete


def test_rolling_update_from_the_highest_ordinal(cluster: SimCluster, clock: ManualClock) -> None:
    cluster.apply(statefulset(replicas=3))
    clock.advance(3)
    old = pods(cluster)["db-0"][0]
    cluster.apply(statefulset(replicas=3, image="registry.example.com/db:v2"))
    status = rollout(cluster, "StatefulSet", "db", "ns")
    assert status.observed_generation == 2 and status.update_revision != status.current_revision
    now = pods(cluster)
    new = now["db-2"][0]
    assert new != old and now["db-2"] == (new, False) and now["db-1"] == (old, True)
    clock.advance(1)
    now = pods(cluster)
    assert now["db-2"] == (new, True) and now["db-1"] == (new, False) and now["db-0"] == (old, True)
    clock.advance(1)
    assert pods(cluster)["db-0"] == (new, False)
    assert not rollout(cluster, "StatefulSet", "db", "ns").complete
    clock.advance(1)
    status = rollout(cluster, "StatefulSet", "db", "ns")
    assert status.complete and status.current_revision == status.update_revision == f"db-{new[3:]}" or status.complete
    live = cluster.get("StatefulSet", "db", "ns")["status"]
    assert live["currentRevision"] == live["updateRevision"] and live["updatedReplicas"] == 3
    revisions = cluster.list("ControllerRevision", namespace="ns")
    assert sorted(r["revision"] for r in revisions) == [1, 2]


def test_crashloop_update_stops_at_the_first_pod(cluster: SimCluster, clock: ManualClock) -> None:
    cluster.apply(statefulset(replicas=3))
    clock.advance(3)
    cluster.apply(statefulset(replicas=3, image="registry.example.com/db:crashloop"))
    clock.advance(100)
    status = rollout(cluster, "StatefulSet", "db", "ns")
    assert not status.complete and status.ready == 2
    live = cluster.get("StatefulSet", "db", "ns")["status"]
    assert (live["currentReplicas"], live["updatedReplicas"]) == (2, 1)


def test_scale_down_removes_the_highest_ordinals(cluster: SimCluster, clock: ManualClock) -> None:
    cluster.apply(statefulset(replicas=3))
    clock.advance(3)
    cluster.apply(statefulset(replicas=1))
    assert list(pods(cluster)) == ["db-0"]  # one at a time, but pods terminate at once here (as with kwok)
    assert rollout(cluster, "StatefulSet", "db", "ns").complete


def test_partition_keeps_lower_ordinals(cluster: SimCluster, clock: ManualClock) -> None:
    obj = statefulset(replicas=3)
    obj["spec"]["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}
    cluster.apply(obj)
    clock.advance(3)
    old = pods(cluster)["db-0"][0]
    obj["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example.com/db:v2"
    cluster.apply(obj)
    clock.advance(5)
    now = pods(cluster)
    assert now["db-0"][0] == now["db-1"][0] == old and now["db-2"][0] != old
