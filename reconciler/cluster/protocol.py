"""The cluster protocol: everything the reconciler asks of a cluster, and nothing more.

Objects are plain dicts in API (camelCase) form. Every backend counts its requests and raises
only the exceptions of `reconciler.cluster.errors`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from collections.abc import Sequence
from typing import Any, Protocol

FIELD_MANAGER = "reconciler"
#: Writes the first replicas of an autoscaled workload, once, so the reconciler never owns them.
INITIAL_REPLICAS_MANAGER = "reconciler-initial-replicas"

Obj = dict[str, Any]


@dataclass
class RequestCounters:
    """API requests made: writes change state, dry_runs are writes with dryRun, reads the rest."""

    reads: int = 0
    writes: int = 0
    dry_runs: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, what: str) -> None:
        with self._lock:
            setattr(self, what, getattr(self, what) + 1)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"reads": self.reads, "writes": self.writes, "dry_runs": self.dry_runs}


class Cluster(Protocol):
    """One Kubernetes cluster, real or simulated."""

    name: str
    counters: RequestCounters

    def list(self, kind: str, *, selector: str | None = None, namespace: str | None = None,
             metadata_only: bool = False) -> list[Obj]:
        """Objects of `kind` matching the label selector (`a=b,c!=d,e`), in every namespace
        unless one is given. `metadata_only` returns apiVersion, kind and metadata alone."""
        ...

    def get(self, kind: str, name: str, namespace: str | None = None) -> Obj:
        """One object, with its status; NotFound when it does not exist."""
        ...

    def apply(self, obj: Obj, *, field_manager: str = FIELD_MANAGER, force: bool = True,
              dry_run: bool = False) -> Obj:
        """Server-side apply of `obj` as `field_manager`; returns the object as stored (or as it
        would be, with `dry_run`). Fields this manager applied before and no longer sets are
        removed; fields other managers own stay."""
        ...

    def create(self, obj: Obj, *, field_manager: str = FIELD_MANAGER) -> Obj:
        """Create `obj`; Conflict (409 AlreadyExists) when an object of that name exists. For
        objects that must have one writer at a time (a Lease): apply would silently update."""
        ...

    def set_managed_fields(self, kind: str, name: str, namespace: str | None, entries: Sequence[Obj], *,
                           resource_version: str, dry_run: bool = False) -> Obj:
        """Replace the object's `metadata.managedFields` with `entries` (a merge patch; nothing
        else changes, no new generation), only if it is still at `resource_version` (else
        Conflict): how ownership is moved, as kubectl's client-side-apply upgrade does."""
        ...

    def delete(self, kind: str, name: str, namespace: str | None = None, *,
               propagation: str = "Background", uid: str | None = None, resource_version: str | None = None,
               dry_run: bool = False) -> None:
        """Delete one object; with `uid`, only that incarnation of it, with `resource_version`
        only if it has not changed since (else Conflict)."""
        ...

    def close(self) -> None:
        ...
