"""Fault injection for tests: failing requests, added latency, an unreachable cluster."""

from __future__ import annotations

import threading
import time

from reconciler.cluster.errors import ClusterError, Unavailable, from_status

_REASONS = {403: "Forbidden", 404: "NotFound", 409: "Conflict", 422: "Invalid", 429: "TooManyRequests",
            500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}


class Faults:
    """What goes wrong with the next requests of one SimCluster (per process, never persisted)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: list[int] = []
        self._latency = 0.0
        self._unreachable = False

    def fail_next(self, n: int = 1, status: int = 503) -> None:
        """The next `n` requests fail with HTTP `status` (mapped through errors.from_status)."""
        with self._lock:
            self._failures.extend([status] * n)

    def latency(self, seconds: float) -> None:
        """Every request takes `seconds` longer (0 turns it off)."""
        with self._lock:
            self._latency = max(0.0, seconds)

    def unreachable(self, value: bool = True) -> None:
        """While set, every request raises Unavailable, as when the API server is down."""
        with self._lock:
            self._unreachable = value

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()
            self._latency = 0.0
            self._unreachable = False

    def before_request(self) -> None:
        """Called at the start of each request: sleeps and raises as configured."""
        with self._lock:
            latency, unreachable = self._latency, self._unreachable
            status = None if unreachable or not self._failures else self._failures.pop(0)
        if latency:
            time.sleep(latency)
        if unreachable:
            raise Unavailable("simulated cluster unreachable: connection refused", reason="Unreachable")
        if status is not None:
            raise _error(status)


def _error(status: int) -> ClusterError:
    reason = _REASONS.get(status, "Unknown")
    return from_status(status, f"simulated failure: HTTP {status} {reason}", reason)
