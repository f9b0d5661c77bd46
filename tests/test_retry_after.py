"""The Retry-After header, read once for every client that backs off (RFC 9110 section 10.2.3)."""

from __future__ import annotations

from datetime import UTC, datetime

from reconciler.retry_after import retry_after_seconds

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_delay_seconds_and_http_dates() -> None:
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(" 1.5 ") == 1.5
    assert retry_after_seconds("Fri, 02 Jan 2026 03:04:35 GMT", now=NOW) == 30.0
    assert retry_after_seconds("Fri, 02 Jan 2026 03:00:00 GMT", now=NOW) == 0.0  # in the past: at once
    assert retry_after_seconds("-4") == 0.0


def test_absent_or_unreadable_leaves_the_backoff_to_the_caller() -> None:
    for value in (None, "", "soon", "Fri, 99 Foo"):
        assert retry_after_seconds(value) is None
