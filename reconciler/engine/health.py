"""Rollout health of a workload, read from its object with kubectl's rollout-status rules (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class RolloutStatus:
    kind: str
    generation: int
    observed_generation: int
    replicas: int  # desired (spec.replicas)
    current: int  # status.replicas: pods of every revision
    updated: int
    ready: int
    available: int
    conditions: tuple[dict[str, Any], ...] = field(default=())
    update_revision: str | None = None
    current_revision: str | None = None

    @property
    def observed(self) -> bool:
        return self.observed_generation >= self.generation

    @property
    def failed(self) -> bool:
        """The controller gave up: ProgressDeadlineExceeded (Deployments)."""
        return any(c.get("type") == "Progressing" and c.get("status") == "False"
                   and c.get("reason") == "ProgressDeadlineExceeded" for c in self.conditions)

    @property
    def complete(self) -> bool:
        if not self.observed:
            return False
        if self.kind == "StatefulSet":
            return self.update_revision == self.current_revision and self.ready == self.replicas
        return (self.updated == self.replicas and self.current == self.updated
                and self.available == self.updated)

    @property
    def unavailable(self) -> int:
        return max(0, self.replicas - self.available)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "generation": self.generation,
                "observedGeneration": self.observed_generation, "replicas": self.replicas,
                "current": self.current, "updated": self.updated, "ready": self.ready,
                "available": self.available, "complete": self.complete, "failed": self.failed,
                "conditions": list(self.conditions)}


def rollout_status(obj: dict[str, Any]) -> RolloutStatus:
    """The RolloutStatus of a Deployment or StatefulSet as returned by the API."""
    kind = obj.get("kind", "")
    if kind not in ("Deployment", "StatefulSet"):
        raise ValueError(f"no rollout status for kind {kind!r}")
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    replicas = spec.get("replicas")
    return RolloutStatus(
        kind=kind,
        generation=int(meta.get("generation") or 0),
        observed_generation=int(status.get("observedGeneration") or 0),
        replicas=1 if replicas is None else int(replicas),
        current=int(status.get("replicas") or 0),
        updated=int(status.get("updatedReplicas") or 0),
        ready=int(status.get("readyReplicas") or 0),
        available=int(status.get("availableReplicas") or 0),
        conditions=tuple(status.get("conditions") or ()),
        update_revision=status.get("updateRevision"),
        current_revision=status.get("currentRevision"),
    )


#: Container waiting reasons that mean a pod will not become ready without a change.
FAILING_REASONS = frozenset({"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName",
                             "CreateContainerConfigError", "CreateContainerError", "RunContainerError"})
_NEW_RS_AVAILABLE = "NewReplicaSetAvailable"

COMPLETE, PROGRESSING, FAILED, UNAVAILABLE = "complete", "progressing", "failed", "unavailable"


@dataclass(frozen=True)
class Health:
    """A workload's health: `complete`, `progressing` (a rollout under way), `failed` (the rollout
    failed) or `unavailable` (short of available pods outside a rollout: reported, never rolled
    back). `reason` says why, for people."""

    state: str
    reason: str = ""


def _progressing_reason(status: RolloutStatus) -> str | None:
    for condition in status.conditions:
        if condition.get("type") == "Progressing":
            reason = condition.get("reason")
            return reason if isinstance(reason, str) else ""
    return None


def in_rollout(status: RolloutStatus) -> bool:
    """A rollout is under way: the workload is not complete because of a revision change, not
    because pods were lost afterwards. Deployments: the Progressing condition no longer says
    NewReplicaSetAvailable, or pods of an old revision or too few new ones remain. StatefulSets: not observed yet, or updateRevision != currentRevision."""
    if status.complete:
        return False
    if not status.observed:
        return True
    if status.kind == "StatefulSet":
        return status.update_revision != status.current_revision
    reason = _progressing_reason(status)
    if reason is not None and reason != _NEW_RS_AVAILABLE:
        return True
    # NewReplicaSetAvailable can be stale for one status update after a change that reuses an
    # older ReplicaSet (a rollback): pods of an old revision, or too few of the new, are a rollout
    return status.updated < status.replicas or status.current > status.updated


def pod_problems(pods: Sequence[Mapping[str, Any]]) -> list[str]:
    """`<pod>: <container> <reason>` for every container of `pods` (init containers included)
    waiting for a reason in FAILING_REASONS."""
    found = []
    for pod in pods:
        name = (pod.get("metadata") or {}).get("name", "?")
        status = pod.get("status") or {}
        for container in [*(status.get("initContainerStatuses") or ()), *(status.get("containerStatuses") or ())]:
            waiting = (container.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in FAILING_REASONS:
                found.append(f"{name}: {container.get('name')} {waiting['reason']}")
    return found


def assess(obj: Mapping[str, Any], pods: Sequence[Mapping[str, Any]], *, now: datetime,
           rollout_started: datetime | None, progress_deadline_seconds: int) -> Health:
    """The health of a workload listed in full, given the pods of its new revision.

    A rollout has failed on the Deployment's ProgressDeadlineExceeded condition; for a
    StatefulSet (which has no such condition) when `progress_deadline_seconds` have passed since
    `rollout_started`; for both when a pod of the new revision has a container in FAILING_REASONS."""
    status = rollout_status(dict(obj))
    if status.complete:
        return Health(COMPLETE)
    if not in_rollout(status):
        return Health(UNAVAILABLE, f"{status.unavailable} of {status.replicas} pods unavailable "
                                   "outside a rollout")
    problems = pod_problems(pods)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return Health(FAILED, f"pods of the new revision cannot run: {problems[0]}{more}")
    if status.failed:
        return Health(FAILED, "ProgressDeadlineExceeded: no progress within progressDeadlineSeconds")
    if (status.kind == "StatefulSet" and rollout_started is not None
            and now - rollout_started > timedelta(seconds=progress_deadline_seconds)):
        return Health(FAILED, f"no complete rollout {progress_deadline_seconds} s after it started "
                              "(progress_deadline_seconds)")
    return Health(PROGRESSING, f"{status.updated} of {status.replicas} updated, "
                               f"{status.available} available")
