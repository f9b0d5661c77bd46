"""What a plan is made of: the desired objects it starts from, its actions, the prune decision,
the halted trains, and the plan of one cluster itself (spec section 7 for the JSON shapes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.engine.drift import Difference
from reconciler.engine.edits import Edit

ACTIONS = ("create", "update", "scale", "delete", "noop", "wait")


@dataclass(frozen=True)
class Desired:
    """A rendered object and the instance it belongs to."""

    obj: Mapping[str, Any]
    service: str
    instance: str


@dataclass(frozen=True)
class Wanted:
    """What git wants on one cluster: the rendered objects, and what must never be pruned
    (services whose files failed to read or validate, instances that are invalid or not deployed
    yet), and the instances whose deploy.yaml step asks for auto_rollback."""

    objects: Sequence[Desired]
    protected_services: frozenset[str] = frozenset()
    protected_instances: frozenset[tuple[str, str]] = frozenset()
    auto_rollback: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Action:
    """One step of a plan. `desired` / `live` are the objects it concerns (not compared)."""

    action: str
    kind: str
    namespace: str | None
    name: str
    service: str
    instance: str
    reason: str
    desired: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    live: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    #: An update that re-applies the last healthy rendering after a failed rollout.
    rollback: bool = False
    #: The fields that differ between the rendering and the live object, when the listing
    #: carried them (drift, and the updates git asks for).
    differences: tuple[Difference, ...] = field(default=(), compare=False, repr=False)
    #: A delete of an object git no longer has (a prune: recorded in the ledger first), and the
    #: kind group it counts in ("" for companions, which count in none).
    prune_group: str | None = None
    #: Hand edits an update heals: their fields are taken over (managedFields) before the apply.
    take_over: tuple[Edit, ...] = field(default=(), compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """The action in the plan JSON shape (spec section 7)."""
        return {"action": self.action, "kind": self.kind, "namespace": self.namespace,
                "name": self.name, "service": self.service, "instance": self.instance,
                "reason": self.reason}


@dataclass(frozen=True)
class GroupCount:
    """One kind group's share of a prune: the objects it would delete now and the managed ones
    on the cluster now (companions, PDBs and HPAs, count in no group: they follow their workload)."""

    group: str
    doomed: int
    managed: int


@dataclass(frozen=True)
class PruneDecision:
    """How many objects git no longer has, and whether deleting them was refused (and why).
    `orphans`: (kind, namespace, name, service, instance) of each candidate. `groups` and
    `recent` (deletions per group in the prune window) are what the fraction was computed from,
    so that it can be computed again against a fresher ledger just before deleting."""

    candidates: int
    refused: bool
    reason: str | None
    orphans: tuple[tuple[str, str | None, str, str, str], ...] = field(default=(), compare=False)
    groups: tuple[GroupCount, ...] = field(default=(), compare=False)
    recent: Mapping[str, int] = field(default_factory=dict, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {"candidates": self.candidates, "refused": self.refused, "reason": self.reason}


@dataclass(frozen=True)
class Halt:
    """A deploy group's halted train on one cluster: the instance whose rollout failed, the
    config_sha that failed, why, and what it was rolled back to (None: not rolled back)."""

    deploy_group: str
    service: str
    instance: str
    failed_config_sha: str
    reason: str
    rolled_back_to: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"halted": True, "deploy_group": self.deploy_group, "service": self.service,
                "instance": self.instance, "failed_config_sha": self.failed_config_sha,
                "reason": self.reason, "rolled_back_to": self.rolled_back_to}


@dataclass(frozen=True)
class Plan:
    """The actions for one cluster, in apply order, the prune decision and the halted trains."""

    cluster: str
    actions: tuple[Action, ...]
    prune: PruneDecision
    halts: tuple[Halt, ...] = ()

    def summary(self) -> dict[str, int]:
        """Counts of each action name; all six keys are present."""
        counts = dict.fromkeys(ACTIONS, 0)
        for action in self.actions:
            counts[action.action] = counts.get(action.action, 0) + 1
        return counts

    def as_dict(self) -> dict[str, Any]:
        """cluster, actions, summary, prune and halted trains of the plan JSON (the caller adds
        dry_run and requests, which the planner cannot know)."""
        return {"cluster": self.cluster, "actions": [a.as_dict() for a in self.actions],
                "summary": self.summary(), "prune": self.prune.as_dict(),
                "halted_trains": [h.as_dict() for h in self.halts]}
