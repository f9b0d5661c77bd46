"""Time for the simulated cluster: the wall clock, or a manual one that tests move forward."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from functools import lru_cache
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...


class SimClock:
    """The wall clock (what two processes sharing one state file agree on)."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that only moves when told to: `advance(seconds)`."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock cannot go back")
        with self._lock:
            self._now += seconds
            return self._now


def rfc3339(when: float) -> str:
    """Kubernetes' metav1.Time: UTC, whole seconds."""
    return _format(int(when))


@lru_cache(maxsize=4096)
def _format(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@lru_cache(maxsize=4096)
def parse_rfc3339(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
