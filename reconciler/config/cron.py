"""Freeze windows' cron schedules (platform.md section 4), read with APScheduler's CronTrigger.

Five fields with standard cron meaning (day of week 0 or 7 is Sunday; APScheduler itself counts
from Monday, so the day-of-week field is translated to day names). When both day of month and day
of week are restricted, both must match (APScheduler's reading; standard cron takes either).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo
from typing import Any

_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


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


def window_end(schedule: str, duration: float, now: datetime, zone: tzinfo) -> datetime | None:
    """When the window (fire times of `schedule`, each open for `duration` seconds) that is open
    at `now` ends; None when none is."""
    cron = trigger(schedule, zone)
    length = timedelta(seconds=duration)
    # the latest fire time at or before `now` within one duration: searched from close to `now`
    # outwards, so a minutely schedule with a long duration costs a few steps, not thousands
    latest = None
    for back in (timedelta(minutes=1), timedelta(hours=1), timedelta(days=1), length):
        fire = cron.get_next_fire_time(None, now - min(back, length))
        if fire is not None and fire <= now:
            latest = fire
            break
    if latest is None:
        return None
    while (following := cron.get_next_fire_time(latest, latest + timedelta(seconds=1))) is not None \
            and following <= now:
        latest = following
    end: datetime = latest + length
    return end if end > now else None
