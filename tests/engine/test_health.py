"""Rollout health: complete, progressing, failed or unavailable outside a rollout (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reconciler.engine.health import COMPLETE, FAILED, PROGRESSING, UNAVAILABLE, assess, in_rollout, pod_problems, rollout_status

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def deployment(*, replicas: int = 3, updated: int = 3, current: int = 3, available: int = 3,
               reason: str | None = "NewReplicaSetAvailable", status: str = "True",
               generation: int = 2, observed: int = 2) -> dict[str, Any]:
    conditions = [] if reason is None else [{"type": "Progressing", "status": status, "reason": reason}]
    return {"kind": "Deployment", "metadata": {"name": "web", "namespace": "ns", "generation": generation},
            "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, "replicas": current, "updatedReplicas": updated,
                       "readyReplicas": available, "availableReplicas": available, "conditions": conditions}}


def statefulset(*, replicas: int = 2, ready: int = 2, update: str = "r2", current: str = "r2") -> dict[str, Any]:
    return {"kind": "StatefulSet", "metadata": {"name": "db", "namespace": "ns", "generation": 1},
            "spec": {"replicas": replicas},
            "status": {"observedGeneration": 1, "replicas": replicas, "readyReplicas": ready,
                       "updateRevision": update, "currentRevision": current}}


def pod(name: str, reason: str | None, *, init: bool = False) -> dict[str, Any]:
    state = {"waiting": {"reason": reason}} if reason else {"running": {}}
    field = "initContainerStatuses" if init else "containerStatuses"
    return {"metadata": {"name": name}, "status": {field: [{"name": "main", "state": state}]}}


def health(obj: dict[str, Any], pods: list[dict[str, Any]] = (), started: datetime | None = None,  # type: ignore[assignment]
           deadline: int = 600) -> tuple[str, str]:
    found = assess(obj, list(pods), now=NOW, rollout_started=started, progress_deadline_seconds=deadline)
    return found.state, found.reason


def test_complete() -> None:
    assert health(deployment()) == (COMPLETE, "")
    assert health(statefulset()) == (COMPLETE, "")


def test_pods_lost_after_a_complete_rollout_are_unavailable_not_failed() -> None:
    lost = deployment(available=1)
    assert not in_rollout(rollout_status(lost))
    state, reason = health(lost, [pod("web-1", "CrashLoopBackOff")])
    assert state == UNAVAILABLE and reason == "2 of 3 pods unavailable outside a rollout"
    assert health(statefulset(ready=1))[0] == UNAVAILABLE


@pytest.mark.parametrize("obj", [
    deployment(updated=1, current=4, available=3, reason="ReplicaSetUpdated"),
    deployment(generation=3, observed=2),
    deployment(updated=3, current=3, available=0, reason="ReplicaSetUpdated"),  # brutal: old pods gone at once
    deployment(updated=1, current=3, available=2, reason=None),
    # a rollback to an older ReplicaSet: its first status update still says NewReplicaSetAvailable
    deployment(updated=0, current=2, available=2, replicas=2),
    statefulset(update="r3", current="r2", ready=1),
])
def test_rollouts_under_way(obj: dict[str, Any]) -> None:
    assert in_rollout(rollout_status(obj))
    assert health(obj)[0] == PROGRESSING


def test_new_pods_that_cannot_run_fail_the_rollout() -> None:
    obj = deployment(updated=3, current=6, available=3, reason="ReplicaSetUpdated")
    state, reason = health(obj, [pod("web-a", None), pod("web-b", "CrashLoopBackOff"), pod("web-c", "ErrImagePull")])
    assert state == FAILED
    assert reason == "pods of the new revision cannot run: web-b: main CrashLoopBackOff (and 1 more)"
    assert pod_problems([pod("x", "ImagePullBackOff", init=True), pod("y", "ContainerCreating")]) == [
        "x: main ImagePullBackOff"]


def test_progress_deadline_exceeded() -> None:
    obj = deployment(updated=1, current=4, available=3, reason="ProgressDeadlineExceeded", status="False")
    assert health(obj)[0] == FAILED


def test_statefulset_deadline_runs_from_the_rollout_start() -> None:
    rolling = statefulset(update="r3", current="r2", ready=1)
    assert health(rolling, started=NOW - timedelta(seconds=100))[0] == PROGRESSING
    state, reason = health(rolling, started=NOW - timedelta(seconds=601))
    assert state == FAILED and "600 s" in reason
    assert health(rolling, started=None)[0] == PROGRESSING
