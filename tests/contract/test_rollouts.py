"""Rollouts as the reconciler observes them: completion, updates, failure, pods, status shapes."""

from __future__ import annotations

from reconciler.cluster.protocol import Cluster
from tests.contract.conftest import deployment, statefulset, wait_for
from tests.support.rollout import rollout


def test_deployment_rollout_completes(cluster: Cluster, namespace: str) -> None:
    cluster.apply(deployment("web", namespace, replicas=2))
    status = wait_for(lambda: (s := rollout(cluster, "Deployment", "web", namespace)).complete and s,
                      what="rollout to complete")
    assert status.replicas == status.updated == status.ready == status.available == 2
    assert status.observed_generation >= status.generation == 1
    assert not status.failed
    types = {c["type"]: c for c in status.conditions}
    assert types["Available"]["status"] == "True"
    assert types["Progressing"]["status"] == "True"
    assert types["Progressing"]["reason"] == "NewReplicaSetAvailable"


def test_image_change_rolls_out_a_new_revision(cluster: Cluster, namespace: str) -> None:
    cluster.apply(deployment("web", namespace, replicas=2))
    wait_for(lambda: rollout(cluster, "Deployment", "web", namespace).complete, what="first rollout")
    cluster.apply(deployment("web", namespace, replicas=2, image="registry.example.com/app:v2"))
    status = wait_for(lambda: (s := rollout(cluster, "Deployment", "web", namespace)).complete
                      and s.generation == 2 and s, what="second rollout")
    assert status.updated == 2 and status.current == 2
    pods = cluster.list("Pod", namespace=namespace, selector="app.example.com/name=web")
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    wait_for(lambda: all(c["image"].endswith(":v2") for p in
                         cluster.list("Pod", namespace=namespace, selector="app.example.com/name=web")
                         if not p["metadata"].get("deletionTimestamp") for c in p["spec"]["containers"]),
             what="old pods gone")
    assert live


def test_scaling_is_not_a_new_revision(cluster: Cluster, namespace: str) -> None:
    cluster.apply(deployment("web", namespace, replicas=1))
    wait_for(lambda: rollout(cluster, "Deployment", "web", namespace).complete, what="rollout")
    cluster.apply(deployment("web", namespace, replicas=3))
    status = wait_for(lambda: (s := rollout(cluster, "Deployment", "web", namespace)).complete
                      and s.available == 3 and s, what="scale up")
    assert status.generation == 2  # replicas are spec: the generation moves...
    sets = cluster.list("ReplicaSet", namespace=namespace, selector="app.example.com/name=web")
    assert len(sets) == 1  # ...but no new ReplicaSet appears


def test_crashlooping_image_fails_with_progress_deadline(cluster: Cluster, namespace: str) -> None:
    cluster.apply(deployment("bad", namespace, replicas=1, image="registry.example.com/app:crashloop-1",
                             progress_deadline=3))
    status = wait_for(lambda: (s := rollout(cluster, "Deployment", "bad", namespace)).failed and s,
                      timeout=90, what="ProgressDeadlineExceeded")
    assert not status.complete and status.available == 0
    pods = cluster.list("Pod", namespace=namespace, selector="app.example.com/name=bad")
    assert pods
    waiting = [cs.get("state", {}).get("waiting", {}).get("reason")
               for p in pods for cs in p.get("status", {}).get("containerStatuses", [])]
    assert "CrashLoopBackOff" in waiting


def test_failed_update_keeps_old_pods_serving(cluster: Cluster, namespace: str) -> None:
    cluster.apply(deployment("web", namespace, replicas=2, progress_deadline=3))
    wait_for(lambda: rollout(cluster, "Deployment", "web", namespace).complete, what="rollout")
    cluster.apply(deployment("web", namespace, replicas=2, progress_deadline=3,
                             image="registry.example.com/app:crashloop-2"))
    status = wait_for(lambda: (s := rollout(cluster, "Deployment", "web", namespace)).failed and s,
                      timeout=90, what="ProgressDeadlineExceeded")
    assert status.available >= 1  # maxUnavailable 25% of 2 rounds down to 0: the old pods stay


def test_recreate_strategy_completes(cluster: Cluster, namespace: str) -> None:
    cluster.apply(deployment("job", namespace, replicas=2, strategy={"type": "Recreate"}))
    wait_for(lambda: rollout(cluster, "Deployment", "job", namespace).complete, what="rollout")
    cluster.apply(deployment("job", namespace, replicas=2, strategy={"type": "Recreate"},
                             image="registry.example.com/app:v2"))
    status = wait_for(lambda: (s := rollout(cluster, "Deployment", "job", namespace)).complete
                      and s.generation == 2 and s, what="recreate rollout")
    assert status.updated == 2


def test_statefulset_rollout_completes_and_updates(cluster: Cluster, namespace: str) -> None:
    cluster.apply(statefulset("db", namespace, replicas=2))
    status = wait_for(lambda: (s := rollout(cluster, "StatefulSet", "db", namespace)).complete and s,
                      what="statefulset rollout")
    assert status.ready == 2 and status.update_revision == status.current_revision
    pods = sorted(p["metadata"]["name"] for p in cluster.list("Pod", namespace=namespace,
                                                              selector="app.example.com/name=db"))
    assert pods == ["db-0", "db-1"]
    cluster.apply(statefulset("db", namespace, replicas=2, image="registry.example.com/db:v2"))
    wait_for(lambda: (s := rollout(cluster, "StatefulSet", "db", namespace)).complete
             and s.observed_generation >= 2 and s, timeout=90, what="statefulset update")


def test_rollout_status_shape(cluster: Cluster, namespace: str) -> None:
    cluster.apply(deployment("web", namespace, replicas=1))
    wait_for(lambda: rollout(cluster, "Deployment", "web", namespace).complete, what="rollout")
    shape = rollout(cluster, "Deployment", "web", namespace).as_dict()
    assert set(shape) >= {"kind", "generation", "observedGeneration", "replicas", "updated", "ready",
                          "available", "complete", "failed", "conditions"}
    live = cluster.get("Deployment", "web", namespace)
    for key in ("observedGeneration", "replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
                "conditions"):
        assert key in live["status"], key
    for condition in live["status"]["conditions"]:
        assert {"type", "status", "reason", "lastUpdateTime", "lastTransitionTime"} <= set(condition)
