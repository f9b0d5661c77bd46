"""Freezes: what holds bounces, creates and promotions for a while, and the plan they hold (pure).

Spec: ../shared/spec/platform.md section 4. Two sources, one shape (`Freeze`): the windows of
reconciler.yaml that are open now (`reconcile.freezes.active`), and ad-hoc freezes (`reconciler
freeze`) stored on the cluster, with an end or none.

`hold(plan, freezes)` turns the workload actions a freeze covers into `wait`s whose reason
starts with `Frozen (<name> until <time>)`: creates and bounces, replica changes (`scale`),
stops (a change to 0 replicas) and prune deletions, except what the freeze's `allow` lists.
Rollbacks always run: a freeze never keeps a broken release in place (the crash-loop rollback, and
a bounce back to the git sha of the workload's last healthy rendering: a release's rollback by
tag). Companions (PDBs, HPAs)
and Namespaces are not held.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from reconciler.engine.actions import Action, Plan
from reconciler.engine.marks import LAST_HEALTHY
from reconciler.engine.owned import unpack
from reconciler.engine.policy import Policy
from reconciler.kinds import WORKLOAD_KINDS



#: How the reason of an action a freeze holds begins.
FROZEN_PREFIX = "Frozen ("


@dataclass(frozen=True)
class Freeze:
    """A freeze in force on one cluster now. `until` None: until someone unfreezes."""

    name: str
    until: datetime | None
    services: frozenset[str] | None = None
    allow: frozenset[str] = frozenset()
    reason: str = ""
    source: str = "config"

    def covers(self, service: str) -> bool:
        return self.services is None or service in self.services

    @property
    def label(self) -> str:
        end = self.until.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if self.until else "unfrozen"
        return f"{FROZEN_PREFIX}{self.name} until {end})"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "until": self.until.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                if self.until else None, "services": sorted(self.services) if self.services is not None else None,
                "allow": sorted(self.allow), "reason": self.reason, "source": self.source}


def covering(freezes: Sequence[Freeze], service: str, what: str) -> Freeze | None:
    """The first freeze that holds `what` (create, bounce, scale, stop, delete, promote) for `service`."""
    return next((f for f in freezes if f.covers(service) and what not in f.allow), None)


def returns_to_last_healthy(action: Action, policy: Policy) -> bool:
    """A bounce back to the git sha of the workload's last healthy rendering (the `last-healthy`
    annotation the bounce away from it stored): a rollback by tag, which no freeze holds."""
    live = action.live or {}
    packed = policy.annotation(live, LAST_HEALTHY)
    want = policy.label(action.desired or {}, "git_sha")
    if packed is None or want is None or want == policy.label(live, "git_sha"):
        return False
    try:
        healthy = unpack(packed)
    except ValueError:
        return False
    return policy.label(healthy, "git_sha") == want


def _what(action: Action, policy: Policy) -> str | None:
    """What a freeze calls the action (None: never held)."""
    if action.rollback or (action.action == "update" and returns_to_last_healthy(action, policy)):
        return None
    if action.action == "delete" and action.prune_group is not None:
        return "delete"
    if action.kind not in WORKLOAD_KINDS or action.action not in ("create", "update", "scale"):
        return None
    replicas = ((action.desired or {}).get("spec") or {}).get("replicas")
    if replicas == 0 and action.action != "create":
        return "stop"
    return {"create": "create", "update": "bounce", "scale": "scale"}[action.action]


def holdable(plan: Plan, policy: Policy) -> bool:
    """Whether a freeze could hold anything of `plan` (else nobody needs to read the freezes)."""
    return any(_what(a, policy) is not None for a in plan.actions)


def hold(plan: Plan, freezes: Sequence[Freeze], policy: Policy) -> Plan:
    """`plan` with what the freezes cover turned into `wait`s (see the module docstring)."""
    if not freezes:
        return plan
    changed = False
    actions = []
    for action in plan.actions:
        what = _what(action, policy)
        freeze = covering(freezes, action.service, what) if what else None
        if freeze is not None:
            action = dataclasses.replace(action, action="wait", reason=f"{freeze.label}: {what} held ({action.reason})")
            changed = True
        actions.append(action)
    return dataclasses.replace(plan, actions=tuple(actions)) if changed else plan
