"""What the daemon knows right now, shared between its jobs and its HTTP handlers (thread-safe).

The clusters and git are the state; this is only the latest view of them: the source in force,
the last cycle of each cluster and the rows built from it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from reconciler.engine.freeze import Freeze
from reconciler.report.document import drift_document
from reconciler.report.status import Row


@dataclass
class ClusterView:
    """The latest about one cluster."""

    reachable: bool | None = None  # None: not reconciled yet
    error: str | None = None
    leader: bool = False
    rows: list[Row] = field(default_factory=list)
    last_cycle: dict[str, Any] | None = None  # the cycle's plan/apply JSON
    last_success: datetime | None = None
    freezes: tuple[Freeze, ...] = ()  # in force during the last cycle


@dataclass
class SourceView:
    soa_configs_commit: str | None = None
    deployments_commit: str | None = None
    error: str | None = None
    read_once: bool = False


class DaemonState:
    """The daemon's current view; every accessor takes the lock and returns copies."""

    def __init__(self, clusters: list[str]) -> None:
        self._lock = threading.Lock()
        self.source = SourceView()
        self.clusters = {name: ClusterView() for name in clusters}
        self._releases: dict[str, dict[str, Any]] = {}

    def set_source(self, *, soa_commit: str | None, deployments_commit: str | None, error: str | None) -> None:
        with self._lock:
            if soa_commit is not None:
                self.source.soa_configs_commit = soa_commit
                self.source.deployments_commit = deployments_commit
                self.source.read_once = True
            self.source.error = error

    def set_cluster(self, name: str, **changes: Any) -> None:
        with self._lock:
            view = self.clusters.setdefault(name, ClusterView())
            for key, value in changes.items():
                setattr(view, key, value)

    def invalid(self) -> int:
        """Rows that are Invalid (files or instances git has that cannot be rendered)."""
        with self._lock:
            return sum(1 for view in self.clusters.values() for r in view.rows if r.status == "Invalid")

    def ready(self) -> tuple[bool, list[str]]:
        """Ready when the sources were read (and the last poll worked) and every cluster answered
        its last cycle. Invalid soa-configs do not make the daemon unready (it keeps the rest
        reconciled): /readyz says how many there are."""
        with self._lock:
            problems = []
            if not self.source.read_once:
                problems.append(f"sources not read yet{': ' + self.source.error if self.source.error else ''}")
            elif self.source.error:
                problems.append(f"source error (the last good commit stays in force): {self.source.error}")
            for name, view in self.clusters.items():
                if view.reachable is not True:
                    problems.append(f"cluster {name}: {view.error or 'not reconciled yet'}")
            return not problems, problems

    def drift(self, *, cluster: str | None = None, service: str | None = None) -> dict[str, Any]:
        """The drift report (spec section 7 JSON shape), bad rows first."""
        with self._lock:
            rows = [r for name, view in self.clusters.items() if cluster in (None, name) for r in view.rows
                    if service in (None, r.service)]
            return drift_document(
                generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                source={"soa_configs_commit": self.source.soa_configs_commit,
                        "deployments_commit": self.source.deployments_commit, "error": self.source.error},
                clusters={name: {"reachable": view.reachable, "error": view.error, "leader": view.leader,
                                 "last_success": view.last_success.strftime("%Y-%m-%dT%H:%M:%SZ")
                                 if view.last_success else None,
                                 "freezes": [f.as_dict() for f in view.freezes]}
                          for name, view in self.clusters.items() if cluster in (None, name)},
                rows=rows)

    def rows(self, name: str) -> list[Row]:
        with self._lock:
            view = self.clusters.get(name)
            return list(view.rows) if view else []

    def cluster_rows(self) -> tuple[dict[str, list[Row]], dict[str, bool | None]]:
        """Per cluster: its latest rows, and whether it answered its last cycle."""
        with self._lock:
            return ({name: list(view.rows) for name, view in self.clusters.items()},
                    {name: view.reachable for name, view in self.clusters.items()})

    def set_releases(self, releases: dict[str, dict[str, Any]]) -> None:
        with self._lock:
            self._releases = dict(releases)

    def releases(self, service: str | None = None) -> dict[str, Any]:
        """The releases in flight or last finished, per service (`engine.release` JSON shape)."""
        with self._lock:
            found = [r for name, r in sorted(self._releases.items()) if service in (None, name)]
        return {"generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "releases": found}

    def last_cycles(self) -> dict[str, Any]:
        with self._lock:
            return {name: view.last_cycle for name, view in self.clusters.items()}
