"""Deployment rollouts with a manual clock: the steps the real controller takes."""

from __future__ import annotations

from typing import Any

from reconciler.cluster.sim import ManualClock, SimCluster
from tests.cluster.sim.conftest import deployment, rolling
from tests.support.rollout import rollout


def sets(cluster: SimCluster, name: str = "web") -> dict[str, tuple[int, int]]:
    """ReplicaSet -> (spec.replicas, readyReplicas), by revision."""
    out = {}
    for rs in cluster.list("ReplicaSet", namespace="ns", selector=f"app={name}"):
        revision = rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        out[revision] = (rs["spec"]["replicas"], rs["status"].get("readyReplicas", 0))
    return out


def conditions(obj: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in obj["status"].get("conditions", [])}


def settle(cluster: SimCluster, clock: ManualClock, obj: dict[str, Any]) -> None:
    """Apply and let the rollout finish (one second per step)."""
    cluster.apply(obj)
    for _ in range(10):
        clock.advance(1)
        if rollout(cluster, "Deployment", obj["metadata"]["name"], "ns").complete:
            return
    raise AssertionError("the rollout did not complete")


def test_new_deployment_creates_a_replicaset_and_pods(cluster: SimCluster, clock: ManualClock) -> None:
    created = cluster.apply(deployment(replicas=3))
    assert created["status"] == {}  # controllers act after the write, as on a real server
    live = cluster.get("Deployment", "web", "ns")
    assert live["status"]["observedGeneration"] == 1 and live["status"]["updatedReplicas"] == 3
    assert conditions(live) == {"Available": ("False", "MinimumReplicasUnavailable"),
                                "Progressing": ("True", "ReplicaSetUpdated")}
    [rs] = cluster.list("ReplicaSet", namespace="ns")
    template_hash = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{template_hash}"
    assert rs["metadata"]["ownerReferences"][0]["uid"] == live["metadata"]["uid"]
    assert rs["metadata"]["annotations"] == {"deployment.kubernetes.io/desired-replicas": "3",
                                             "deployment.kubernetes.io/max-replicas": "4",
                                             "deployment.kubernetes.io/revision": "1"}
    pods = cluster.list("Pod", namespace="ns", selector=f"pod-template-hash={template_hash}")
    assert len(pods) == 3 and {p["status"]["phase"] for p in pods} == {"Pending"}
    assert all(p["metadata"]["name"].startswith(rs["metadata"]["name"] + "-") for p in pods)
    assert pods[0]["metadata"]["labels"] == {"app": "web", "pod-template-hash": template_hash}
    clock.advance(0.5)
    assert not rollout(cluster, "Deployment", "web", "ns").complete
    clock.advance(0.5)
    status = rollout(cluster, "Deployment", "web", "ns")
    assert status.complete and (status.ready, status.available) == (3, 3)
    live = cluster.get("Deployment", "web", "ns")
    assert conditions(live) == {"Available": ("True", "MinimumReplicasAvailable"),
                                "Progressing": ("True", "NewReplicaSetAvailable")}
    assert live["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    pod = cluster.list("Pod", namespace="ns")[0]
    ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert pod["status"]["phase"] == "Running" and ready["Ready"] == "True"
    assert pod["status"]["containerStatuses"][0]["ready"] is True


def test_rolling_update_25_percent_steps(cluster: SimCluster, clock: ManualClock) -> None:
    """4 replicas, maxSurge 25% (1, rounded up), maxUnavailable 25% (1, rounded down)."""
    settle(cluster, clock, deployment(replicas=4, strategy=rolling("25%", "25%")))
    cluster.apply(deployment(replicas=4, strategy=rolling("25%", "25%"), image="registry.example.com/app:v2"))
    # at once: one surge pod, then one old pod goes (3 old stay available: 4 - 1 unavailable)
    assert sets(cluster) == {"1": (3, 3), "2": (2, 0)}
    status = rollout(cluster, "Deployment", "web", "ns")
    assert (status.current, status.updated, status.available) == (5, 2, 3)
    clock.advance(1)  # the two new pods are ready: two more old ones can go, two more new ones come
    assert sets(cluster) == {"1": (1, 1), "2": (4, 2)}
    clock.advance(1)
    assert sets(cluster) == {"1": (0, 0), "2": (4, 4)}
    status = rollout(cluster, "Deployment", "web", "ns")
    assert status.complete and status.generation == 2
    live = cluster.get("Deployment", "web", "ns")
    assert live["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert conditions(live)["Progressing"] == ("True", "NewReplicaSetAvailable")


def test_rounding_of_integer_and_percent_budgets(cluster: SimCluster, clock: ManualClock) -> None:
    settle(cluster, clock, deployment(replicas=10, strategy=rolling(3, "15%")))  # 15% of 10 -> 1
    cluster.apply(deployment(replicas=10, strategy=rolling(3, "15%"), image="registry.example.com/app:v2"))
    assert sets(cluster) == {"1": (9, 9), "2": (4, 0)}


def test_recreate_stops_everything_first(cluster: SimCluster, clock: ManualClock) -> None:
    settle(cluster, clock, deployment(replicas=3, strategy={"type": "Recreate"}))
    cluster.apply(deployment(replicas=3, strategy={"type": "Recreate"}, image="registry.example.com/app:v2"))
    assert sets(cluster) == {"1": (0, 0), "2": (3, 0)}
    status = rollout(cluster, "Deployment", "web", "ns")
    assert (status.available, status.complete) == (0, False)
    assert conditions(cluster.get("Deployment", "web", "ns"))["Available"] == ("False", "MinimumReplicasUnavailable")
    clock.advance(1)
    assert rollout(cluster, "Deployment", "web", "ns").complete


def test_min_ready_seconds_delays_availability(cluster: SimCluster, clock: ManualClock) -> None:
    cluster.apply(deployment(replicas=2, minReadySeconds=5))
    clock.advance(1)
    status = rollout(cluster, "Deployment", "web", "ns")
    assert (status.ready, status.available, status.complete) == (2, 0, False)
    clock.advance(4.5)
    assert rollout(cluster, "Deployment", "web", "ns").available == 0
    clock.advance(0.5)
    assert rollout(cluster, "Deployment", "web", "ns").complete


def test_crashloop_never_completes_and_exceeds_the_deadline(cluster: SimCluster, clock: ManualClock) -> None:
    settle(cluster, clock, deployment(replicas=2, progressDeadlineSeconds=30))
    cluster.apply(deployment(replicas=2, progressDeadlineSeconds=30, image="registry.example.com/app:crashloop-v2"))
    assert sets(cluster) == {"1": (2, 2), "2": (1, 0)}  # surge 1, unavailable 0 (25% of 2, rounded down)
    clock.advance(29)
    status = rollout(cluster, "Deployment", "web", "ns")
    assert not status.complete and not status.failed
    clock.advance(1)
    status = rollout(cluster, "Deployment", "web", "ns")
    assert status.failed and not status.complete and status.available == 2
    live = cluster.get("Deployment", "web", "ns")
    progressing = next(c for c in live["status"]["conditions"] if c["type"] == "Progressing")
    assert progressing["reason"] == "ProgressDeadlineExceeded" and progressing["status"] == "False"
    assert progressing["message"].endswith("has timed out progressing.")
    [pod] = [p for p in cluster.list("Pod", namespace="ns") if "crashloop" in p["spec"]["containers"][0]["image"]]
    container = pod["status"]["containerStatuses"][0]
    assert pod["status"]["phase"] == "Running" and container["ready"] is False
    assert container["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    restarts = container["restartCount"]
    clock.advance(600)
    later = cluster.get("Pod", pod["metadata"]["name"], "ns")["status"]["containerStatuses"][0]["restartCount"]
    assert later > restarts > 0


def test_new_crashlooping_deployment_fails_too(cluster: SimCluster, clock: ManualClock) -> None:
    cluster.apply(deployment(replicas=1, image="x/app:crashloop", progressDeadlineSeconds=10))
    clock.advance(9)
    assert not rollout(cluster, "Deployment", "web", "ns").failed
    clock.advance(1)
    assert rollout(cluster, "Deployment", "web", "ns").failed


def test_scaling_is_not_a_new_revision(cluster: SimCluster, clock: ManualClock) -> None:
    settle(cluster, clock, deployment(replicas=2))
    cluster.apply(deployment(replicas=5))
    assert sets(cluster) == {"1": (5, 2)}
    live = cluster.get("Deployment", "web", "ns")
    assert live["metadata"]["generation"] == 2
    assert live["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    clock.advance(1)
    assert rollout(cluster, "Deployment", "web", "ns").complete
    cluster.apply(deployment(replicas=1))
    assert sets(cluster) == {"1": (1, 1)} and len(cluster.list("Pod", namespace="ns")) == 1


def test_scaling_during_a_rollout_is_proportional(cluster: SimCluster, clock: ManualClock) -> None:
    settle(cluster, clock, deployment(replicas=10, strategy=rolling(3, 2)))
    cluster.apply(deployment(replicas=10, strategy=rolling(3, 2), image="x/app:crashloop"))
    assert sets(cluster) == {"1": (8, 8), "2": (5, 0)}
    cluster.apply(deployment(replicas=20, strategy=rolling(3, 2), image="x/app:crashloop"))
    old, new = sets(cluster)["1"][0], sets(cluster)["2"][0]
    assert old + new == 23 and old > new  # 20 + maxSurge 3, shared out by size


def test_rollback_reuses_the_old_replicaset(cluster: SimCluster, clock: ManualClock) -> None:
    settle(cluster, clock, deployment(replicas=2))
    settle(cluster, clock, deployment(replicas=2, image="registry.example.com/app:v2"))
    clock.advance(1)
    first_names = {rs["metadata"]["name"] for rs in cluster.list("ReplicaSet", namespace="ns")}
    cluster.apply(deployment(replicas=2))
    clock.advance(2)
    assert rollout(cluster, "Deployment", "web", "ns").complete
    now_sets = cluster.list("ReplicaSet", namespace="ns")
    assert {rs["metadata"]["name"] for rs in now_sets} == first_names
    revisions = {rs["spec"]["template"]["spec"]["containers"][0]["image"]:
                 rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] for rs in now_sets}
    assert revisions == {"registry.example.com/app:v1": "3", "registry.example.com/app:v2": "2"}
    old = next(rs for rs in now_sets if rs["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":v1"))
    assert old["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"


def test_revision_history_limit_deletes_old_sets(cluster: SimCluster, clock: ManualClock) -> None:
    for version in range(5):
        settle(cluster, clock, deployment(replicas=1, image=f"x/app:v{version}", revisionHistoryLimit=2))
        clock.advance(1)
    cluster.list("Deployment", namespace="ns")
    assert len(cluster.list("ReplicaSet", namespace="ns")) == 3  # the current one and two old ones


def test_deployment_annotations_are_copied_to_the_new_replicaset(cluster: SimCluster) -> None:
    obj = deployment(replicas=1)
    obj["metadata"]["annotations"] = {"example.com/bounce-started": "123"}
    cluster.apply(obj)
    [rs] = cluster.list("ReplicaSet", namespace="ns")
    assert rs["metadata"]["annotations"]["example.com/bounce-started"] == "123"


def test_zero_replicas(cluster: SimCluster) -> None:
    cluster.apply(deployment(replicas=0))
    status = rollout(cluster, "Deployment", "web", "ns")
    assert status.complete and status.current == 0
    assert conditions(cluster.get("Deployment", "web", "ns"))["Available"] == ("True", "MinimumReplicasAvailable")
