"""Rollout health of a workload, read from its object with kubectl's rollout-status rules (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
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
