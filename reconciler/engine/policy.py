"""How the engine decides on one cluster: one value, built once from the cluster's settings (pure).

Every step of a cycle (`plan`, `train.guard`, `rollout.gate`, `bookkeeping.annotate`) takes the
same `Policy`; the label domain is part of it, so nothing threads it through as a parameter.
Spec defaults: ../shared/spec/reconciler.md sections 1, 3 and 4.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.engine.edits import DEFAULT_EDIT_MANAGERS
from reconciler.engine.marks import annotation, key, label


@dataclass(frozen=True)
class Budget:
    """Per-cluster rollout budgets (spec section 4 defaults)."""

    max_concurrent_bounces: int = 10
    max_unavailable_fraction: float = 0.1
    bounces_per_minute: int = 30


@dataclass(frozen=True)
class Policy:
    """The rules of one cluster, `cluster`.

    `label_domain`: the prefix of every label and annotation the reconciler reads and writes.
    `prune` / `max_prune_fraction` / `allow_mass_prune`: deleting what git no longer has (the
    last lifts the fraction, for one run); `prune_window`: seconds over which the fraction is
    counted; `ledger_namespace`: where the cluster's record of prune deletions lives. `allow_recreate`: replace a workload whose immutable
    fields changed. `heal_drift`: drift becomes an update (else it is only reported). `ignore`:
    JSON pointers per kind left out of field comparisons; `edit_managers`: the field managers
    whose live-only fields are hand edits (drift). `redact_key`: env values and Secret data in
    differences are shown as an HMAC under this key (None: as they are, `show_env_values`).
    `budget`: rollout budgets.
    `progress_deadline_seconds`: when a StatefulSet's rollout has failed (Deployments carry it).
    """

    cluster: str
    label_domain: str
    prune: bool = False
    max_prune_fraction: float = 0.5
    allow_mass_prune: bool = False
    prune_window: float = 3600.0
    ledger_namespace: str = "reconciler"
    allow_recreate: bool = False
    heal_drift: bool = True
    ignore: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    edit_managers: tuple[str, ...] = DEFAULT_EDIT_MANAGERS
    redact_key: bytes | None = field(default=None, repr=False)
    budget: Budget = field(default_factory=Budget)
    progress_deadline_seconds: int = 600

    def key(self, name: str) -> str:
        """The label or annotation key `<label_domain>/<name>`."""
        return key(self.label_domain, name)

    def label(self, obj: Mapping[str, Any], name: str) -> str | None:
        """The object's `<label_domain>/<name>` label, or None (also when empty)."""
        return label(obj, self.label_domain, name)

    def annotation(self, obj: Mapping[str, Any], name: str) -> str | None:
        """The object's `<label_domain>/<name>` annotation, or None (also when empty)."""
        return annotation(obj, self.label_domain, name)

    def managed(self, obj: Mapping[str, Any]) -> bool:
        """The object carries `<label_domain>/managed: "true"`: the reconciler may touch it."""
        return self.label(obj, "managed") == "true"

    @property
    def managed_selector(self) -> str:
        """The label selector of every object the reconciler manages."""
        return f"{self.key('managed')}=true"

