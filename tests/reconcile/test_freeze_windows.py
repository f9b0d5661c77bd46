"""Freeze windows: cron schedules read as standard cron, in the configured time zone."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from reconciler.config.cron import trigger, window_end
from reconciler.config.model import FreezeWindow
from reconciler.engine.freeze import Freeze
from reconciler.reconcile.freezes import active

UTC = timezone.utc
FRIDAY_EVENING = FreezeWindow("weekend", "0 18 * * 5", 62 * 3600)  # Friday 18:00 to Monday 08:00


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)  # 2026-12-04 is a Friday


def test_a_window_is_open_from_each_fire_time_for_its_duration() -> None:
    assert window_end(FRIDAY_EVENING.schedule, FRIDAY_EVENING.duration, at(4, 17, 59), UTC) is None
    assert window_end(FRIDAY_EVENING.schedule, FRIDAY_EVENING.duration, at(4, 18), UTC) == at(7, 8)
    assert window_end(FRIDAY_EVENING.schedule, FRIDAY_EVENING.duration, at(6, 12), UTC) == at(7, 8)  # Sunday
    assert window_end(FRIDAY_EVENING.schedule, FRIDAY_EVENING.duration, at(7, 8), UTC) is None  # Monday 08:00: over


def test_a_minutely_window_of_a_day_ends_a_day_after_the_latest_minute() -> None:
    assert window_end("* * * * *", 24 * 3600, at(6, 12), UTC) == at(7, 12)


def test_day_of_week_reads_as_standard_cron_and_the_time_zone_counts() -> None:
    sunday = FreezeWindow("sunday", "0 0 * * 0", 24 * 3600)
    assert window_end(sunday.schedule, sunday.duration, at(6, 12), UTC) is not None
    assert window_end("0 0 * * 7", 24 * 3600, at(6, 12), UTC) is not None
    assert window_end(sunday.schedule, sunday.duration, at(5, 12), UTC) is None  # Saturday
    weekdays = FreezeWindow("nights", "0 22 * * 1-5", 10 * 3600)
    assert window_end(weekdays.schedule, weekdays.duration, at(7, 23), UTC) is not None and window_end(weekdays.schedule, weekdays.duration, at(5, 23), UTC) is None
    berlin = FreezeWindow("berlin", "0 18 * * 5", 3600)
    assert window_end(berlin.schedule, berlin.duration, at(4, 17, 30), ZoneInfo("Europe/Berlin")) is not None  # 18:30 in Berlin
    assert window_end(berlin.schedule, berlin.duration, at(4, 18, 30), ZoneInfo("Europe/Berlin")) is None


@pytest.mark.parametrize("schedule", ["0 18 * *", "61 * * * *", "0 0 * * 8", "0 0 * * 5-2", "x y z w v"])
def test_schedules_that_are_not_cron_are_refused(schedule: str) -> None:
    with pytest.raises(ValueError):
        trigger(schedule, UTC)


def test_active_filters_by_cluster_and_drops_ended_ad_hoc_freezes() -> None:
    prod_only = FreezeWindow("weekend", "0 18 * * 5", 62 * 3600, clusters=frozenset({"prod"}))
    ended = Freeze("done", at(5, 0), source="ad-hoc")
    open_ended = Freeze("incident", None, source="ad-hoc")
    assert active([prod_only], [ended, open_ended], "dev", at(6, 12), UTC) == (open_ended,)
    names = [f.name for f in active([prod_only], [ended], "prod", at(6, 12), UTC)]
    assert names == ["weekend"]
