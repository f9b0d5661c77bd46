"""Freezes: windows in which no bounce, create or promotion starts, and the plan they hold (pure).

Spec: ../shared/spec/platform.md section 4. Two sources, one shape (`Freeze`):

- windows from reconciler.yaml (`FreezeWindow`): a cron schedule (five fields, standard cron
  meaning: day of week 0 or 7 is Sunday) evaluated in the configured time zone, and a duration;
  a window is active from each fire time for `duration`. When both day of month and day of week
  are restricted, both must match (APScheduler's reading; standard cron takes either).
- ad-hoc freezes (`reconciler freeze`), stored on the cluster, with an end or none.

`hold(plan, freezes)` turns the workload actions a freeze covers into `wait`s whose reason
starts with `Frozen (<name> until <time>)`: creates and bounces, replica changes (`scale`),
stops (a change to 0 replicas) and prune deletions, except what the freeze's `allow` lists.
Rollbacks always run: a freeze never keeps a broken release in place. Companions (PDBs, HPAs)
and Namespaces are not held.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from reconciler.engine.actions import Action, Plan
from reconciler.kinds import WORKLOAD_KINDS

#: What a freeze may let through (`allow`).
ALLOWABLE = ("create", "bounce", "scale", "stop", "delete", "promote")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@dataclass(frozen=True)
class FreezeWindow:
    """A recurring freeze from reconciler.yaml. `clusters` / `services` None: all of them."""

    name: str
    schedule: str
    duration: float
    clusters: frozenset[str] | None = None
    services: frozenset[str] | None = None
    allow: frozenset[str] = frozenset()


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
        return f"Frozen ({self.name} until {end})"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "until": self.until.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                if self.until else None, "services": sorted(self.services) if self.services is not None else None,
                "allow": sorted(self.allow), "reason": self.reason, "source": self.source}


def _day(token: str) -> int:
    token = token.strip().lower()
    if token[:3] in _DAYS:
        return _DAYS.index(token[:3])
    value = int(token)
    if not 0 <= value <= 7:
        raise ValueError(f"day of week {token!r} is not 0-7")
    return value % 7


def _days(field: str) -> str:
    """A standard cron day-of-week field as APScheduler's (which counts from Monday): an explicit list."""
    if field.strip() == "*":
        return "*"
    days: set[int] = set()
    for item in field.split(","):
        part, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"step {step_text!r} must be positive")
        if part == "*":
            first, last = 0, 6
        elif "-" in part:
            low, high = part.split("-", 1)
            first, last = _day(low), _day(high) if high.strip() not in ("7",) else 7
        else:
            first = last = _day(part)
        if last < first:
            raise ValueError(f"day range {part!r} runs backwards")
        days.update(d % 7 for d in range(first, last + 1, step))
    return ",".join(_DAYS[d] for d in sorted(days))


def trigger(schedule: str, zone: tzinfo) -> Any:
    """The APScheduler CronTrigger of a five-field cron `schedule`; ValueError when it is not one."""
    from apscheduler.triggers.cron import CronTrigger

    fields = schedule.split()
    if len(fields) != 5:
        raise ValueError(f"{schedule!r} is not a five-field cron schedule (minute hour day month weekday)")
    minute, hour, day, month, weekday = fields
    if not re.fullmatch(r"[0-9A-Za-z*,/-]+", weekday):
        raise ValueError(f"day of week {weekday!r} is not valid")
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=_days(weekday), timezone=zone)


def window_end(window: FreezeWindow, now: datetime, zone: tzinfo) -> datetime | None:
    """When the window's current occurrence ends, None when it is not active at `now`."""
    cron = trigger(window.schedule, zone)
    length = timedelta(seconds=window.duration)
    fire = cron.get_next_fire_time(None, now - length)
    end = None
    for _ in range(1000):  # fire times within one duration (a minutely schedule: many)
        if fire is None or fire > now:
            break
        end = fire + length
        fire = cron.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return end if end is not None and end > now else None


def active(windows: Iterable[FreezeWindow], adhoc: Iterable[Freeze], cluster: str, now: datetime,
           zone: tzinfo) -> tuple[Freeze, ...]:
    """The freezes in force on `cluster` at `now`: its windows that are open, and the ad-hoc
    freezes that have not ended."""
    out = []
    for window in windows:
        if window.clusters is not None and cluster not in window.clusters:
            continue
        end = window_end(window, now, zone)
        if end is not None:
            out.append(Freeze(window.name, end, window.services, window.allow, source="config"))
    out.extend(f for f in adhoc if f.until is None or f.until > now)
    return tuple(out)


def covering(freezes: Sequence[Freeze], service: str, what: str) -> Freeze | None:
    """The first freeze that holds `what` (one of ALLOWABLE) for `service`."""
    return next((f for f in freezes if f.covers(service) and what not in f.allow), None)


def _what(action: Action) -> str | None:
    """What a freeze calls the action (None: never held)."""
    if action.rollback:
        return None
    if action.action == "delete" and action.prune_group is not None:
        return "delete"
    if action.kind not in WORKLOAD_KINDS or action.action not in ("create", "update", "scale"):
        return None
    replicas = ((action.desired or {}).get("spec") or {}).get("replicas")
    if replicas == 0 and action.action != "create":
        return "stop"
    return {"create": "create", "update": "bounce", "scale": "scale"}[action.action]


def hold(plan: Plan, freezes: Sequence[Freeze]) -> Plan:
    """`plan` with what the freezes cover turned into `wait`s (see the module docstring)."""
    if not freezes:
        return plan
    changed = False
    actions = []
    for action in plan.actions:
        what = _what(action)
        freeze = covering(freezes, action.service, what) if what else None
        if freeze is not None:
            action = dataclasses.replace(action, action="wait", reason=f"{freeze.label}: {what} held ({action.reason})")
            changed = True
        actions.append(action)
    return dataclasses.replace(plan, actions=tuple(actions)) if changed else plan
