"""The `Retry-After` header of an HTTP answer (RFC 9110 section 10.2.3), for every client that
backs off: the Kubernetes transport and the notification senders."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` value: delay-seconds (fractions accepted) or an
    HTTP date (relative to `now`, default the current time); never negative. None when the
    header is absent or unreadable (the caller's own backoff applies)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
