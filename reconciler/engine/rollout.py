"""Rollout budgets: which bounces of a plan may start this cycle, and which must wait (pure).

No I/O and no clock (`now` is a parameter). Spec: ../shared/spec/reconciler.md section 4.

Decisions worth knowing:

- A *bounce* is an `update` action of an existing Deployment/StatefulSet (the planner only emits
  `update` for a pod-template / config_sha change; replicas-only changes are `scale`). Creates,
  scales, deletes and every other kind's updates are never held back.
- Counted from the live listing (`live_workloads`), managed Deployments/StatefulSets only:
  * in progress: rollout not complete per `health.rollout_status`; a listed object without a
    `status` counts as complete (a metadata-only listing says nothing about progress);
  * unavailable fraction: sum of `RolloutStatus.unavailable` / sum of desired replicas; objects
    without a status add their replicas to the total and no unavailable pods;
  * bounces in the last minute: `<label_domain>/bounce-started-at` annotations within
    [now - 60 s, now] (unparseable values are ignored), plus the bounces started this cycle.
- Re-bouncing a workload whose own rollout is already in progress does not add a workload to
  the concurrency count (it already is one), so a fix for a stuck rollout is never deadlocked by
  `max_concurrent_bounces`; it still counts against `bounces_per_minute`.
- The unavailable fraction is *observed*: it does not change during a cycle. When it is at or
  over the limit, a bounce starts only if nothing is in progress and none started yet this cycle.
- Budgets are checked in the order concurrency, unavailable fraction, rate; the first that
  holds a bounce names itself in the `wait` reason, with the numbers.
- Rollbacks (see `engine.train`) go first and are not held by the unavailable fraction: they
  restore availability. Nor is a new bounce of a workload whose own rollout is under way (the
  fix of a failing rollout: its unavailable pods are what the fraction counts). Both still
  count towards the rate.
- Priority: class (0 new code, 1 config, 2 fleet-wide), then the oldest `changed_at` of the
  action's (service, instance) (missing = `now`), then plan order. Actions keep plan order in the
  returned plan; only which ones turn into `wait` depends on priority.
- Naive datetimes (`now`, `changed_at`) are taken as UTC.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from reconciler.engine.actions import Action, Plan
from reconciler.engine.health import rollout_status
from reconciler.engine.marks import BOUNCE_STARTED, parse_time, utc
from reconciler.engine.objects import Key, key_of, section
from reconciler.engine.policy import Policy
from reconciler.kinds import WORKLOAD_KINDS

#: The window of `bounces_per_minute`.
RATE_WINDOW = timedelta(seconds=60)

_NO_CHANGES: Mapping[tuple[str, str], datetime] = {}


def is_bounce(action: Action) -> bool:
    """An update of an existing Deployment/StatefulSet: a pod template change."""
    return action.action == "update" and action.kind in WORKLOAD_KINDS and action.live is not None


def bounce_class(action: Action, *, fleet_wide: bool = False) -> int:
    """0 new code (the desired git_sha label differs from live's), 1 a config change, 2 a change
    touching every service (`fleet_wide`: the cycle's cluster-wide settings changed)."""
    desired = action.desired or {}
    live = action.live or {}
    want = {k: v for k, v in section(desired, "labels").items() if str(k).endswith("/git_sha")}
    have = {k: v for k, v in section(live, "labels").items() if str(k).endswith("/git_sha")}
    if want != have:
        return 0
    return 2 if fleet_wide else 1


def _has_status(obj: Mapping[str, Any]) -> bool:
    return isinstance(obj.get("status"), Mapping)


@dataclass(frozen=True)
class _Observed:
    in_progress: frozenset[Key]
    unavailable: int
    replicas: int
    recent: int


def _observe(live_workloads: Sequence[Mapping[str, Any]], now: datetime, policy: Policy) -> _Observed:
    in_progress: set[Key] = set()
    unavailable = replicas = recent = 0
    seen: set[Key] = set()
    for obj in live_workloads:
        key = key_of(obj)
        if key in seen or obj.get("kind") not in WORKLOAD_KINDS or not policy.managed(obj):
            continue
        seen.add(key)
        status = rollout_status(dict(obj))
        replicas += status.replicas
        if _has_status(obj):
            unavailable += status.unavailable
            if not status.complete:
                in_progress.add(key)
        started = parse_time(policy.annotation(obj, BOUNCE_STARTED))
        if started is not None and now - RATE_WINDOW <= started <= now:
            recent += 1
    return _Observed(frozenset(in_progress), unavailable, replicas, recent)


def gate(plan: Plan, live_workloads: Sequence[Mapping[str, Any]], policy: Policy, *, now: datetime,
         fleet_wide: bool = False, changed_at: Mapping[tuple[str, str], datetime] = _NO_CHANGES) -> Plan:
    """`plan` with the bounces over `policy.budget` turned into `wait` actions (see the module
    docstring). `changed_at` maps (service, instance) to when its desired state changed."""
    now = utc(now)
    budget = policy.budget
    seen = _observe(live_workloads, now, policy)
    over_fraction = seen.replicas > 0 and seen.unavailable / seen.replicas >= budget.max_unavailable_fraction

    candidates = [(i, a) for i, a in enumerate(plan.actions) if is_bounce(a)]
    candidates.sort(key=lambda pair: (not pair[1].rollback, bounce_class(pair[1], fleet_wide=fleet_wide),
                                      utc(changed_at.get((pair[1].service, pair[1].instance), now)),
                                      pair[0]))

    held: dict[int, str] = {}
    started = 0        # bounces started this cycle
    started_new = 0    # of which on workloads not already in progress
    for index, action in candidates:
        key = (action.kind, action.namespace, action.name)
        adds = key not in seen.in_progress
        in_progress = len(seen.in_progress) + started_new
        if adds and in_progress >= budget.max_concurrent_bounces:
            held[index] = (f"held: {in_progress} of max_concurrent_bounces "
                           f"{budget.max_concurrent_bounces} rollouts in progress")
            continue
        if over_fraction and in_progress > 0 and adds and not action.rollback:
            held[index] = (f"held: {seen.unavailable} of {seen.replicas} pods unavailable "
                           f"({seen.unavailable / seen.replicas:.0%}), over max_unavailable_fraction "
                           f"{budget.max_unavailable_fraction:g}, {in_progress} rollouts in progress")
            continue
        recent = seen.recent + started
        if recent >= budget.bounces_per_minute:
            held[index] = (f"held: {recent} of bounces_per_minute {budget.bounces_per_minute} "
                           f"bounces started in the last 60 s")
            continue
        started += 1
        started_new += adds

    if not held:
        return plan
    actions = tuple(dataclasses.replace(a, action="wait", reason=held[i]) if i in held else a
                    for i, a in enumerate(plan.actions))
    return dataclasses.replace(plan, actions=actions)
