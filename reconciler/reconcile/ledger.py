"""The prune ledger: the deletions of what git no longer has, kept on the cluster itself.

A ConfigMap `reconciler-prune-ledger` in the lease namespace holds, as JSON under `deletions`,
one entry per pruned object (when, its kind group, kind, namespace, name) for the last
`prune_window`. The prune fraction counts it (`engine.prune`), so a mass deletion split over
several commits, several CLI runs or a restarted daemon is refused like one made at once.

Deletions are recorded *before* deleting, with a resourceVersion precondition: two writers
cannot both add theirs against the same count. On a conflict the ledger is read again and the
fraction checked again against it; refused, nothing is deleted.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from reconciler.cluster.errors import Conflict, NotFound
from reconciler.cluster.protocol import Cluster
from reconciler.engine.actions import Action, PruneDecision
from reconciler.engine.marks import parse_time, rfc3339
from reconciler.engine.policy import Policy
from reconciler.engine.prune import over_fraction

NAME = "reconciler-prune-ledger"
KEY = "deletions"
#: Tries of a ledger write that meets a concurrent writer.
ATTEMPTS = 5
#: At most this many entries are kept (the oldest go first): a bound on the ConfigMap's size.
MAX_ENTRIES = 5000


@dataclass(frozen=True)
class Entry:
    at: str
    group: str
    kind: str
    namespace: str | None
    name: str

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at, "group": self.group, "kind": self.kind, "namespace": self.namespace, "name": self.name}


def parse(configmap: dict[str, Any] | None) -> list[Entry]:
    """The entries of a ledger ConfigMap; unreadable entries are skipped (never a crash)."""
    raw = ((configmap or {}).get("data") or {}).get(KEY)
    try:
        items = json.loads(raw) if isinstance(raw, str) else []
    except ValueError:
        items = []
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("at"), str) and isinstance(item.get("group"), str):
            out.append(Entry(item["at"], item["group"], str(item.get("kind", "")), item.get("namespace"),
                             str(item.get("name", ""))))
    return out


def within(entries: Sequence[Entry], now: datetime, window: float) -> list[Entry]:
    """The entries of the last `window` seconds (an entry whose time cannot be read counts: it
    never lets a deletion through)."""
    since = now - timedelta(seconds=window)
    return [e for e in entries if (moment := parse_time(e.at)) is None or moment >= since]


def counts(entries: Sequence[Entry], now: datetime, window: float) -> dict[str, int]:
    """Deletions per kind group in the window."""
    return dict(Counter(e.group for e in within(entries, now, window)))


class Ledger:
    """The ledger of one cluster (see the module docstring)."""

    def __init__(self, cluster: Cluster, policy: Policy) -> None:
        self.cluster = cluster
        self.policy = policy

    def read(self) -> tuple[list[Entry], str | None]:
        """The entries and the ConfigMap's resourceVersion (None: there is no ledger yet)."""
        try:
            configmap = self.cluster.get("ConfigMap", NAME, self.policy.ledger_namespace)
        except NotFound:
            return [], None
        return parse(configmap), (configmap.get("metadata") or {}).get("resourceVersion")

    def recent(self, now: datetime) -> dict[str, int]:
        """Prune deletions per kind group within the window."""
        return counts(self.read()[0], now, self.policy.prune_window)

    def record(self, deletes: Sequence[Action], decision: PruneDecision, now: datetime) -> str | None:
        """Add `deletes` (prune deletes) to the ledger before they are made; None when recorded,
        else why not (the fraction, counted again against the ledger as it is now, is over)."""
        added = [Entry(rfc3339(now), a.prune_group or "", a.kind, a.namespace, a.name) for a in deletes
                 if a.prune_group]
        if not added:
            return None
        for _ in range(ATTEMPTS):
            entries, version = self.read()
            if set(added) <= set(entries):
                return None  # an earlier try of this write landed and only its answer was lost
            kept = within(entries, now, self.policy.prune_window)
            if not self.policy.allow_mass_prune:
                reason = over_fraction(decision.groups, counts(kept, now, self.policy.prune_window), self.policy)
                if reason is not None:
                    return reason
            try:
                self._write([*kept, *added][-MAX_ENTRIES:], version)
                return None
            except Conflict:
                continue  # another writer recorded first: count again
        return "the prune ledger kept changing under concurrent writers; nothing deleted this cycle"

    def _write(self, entries: Sequence[Entry], version: str | None) -> None:
        metadata: dict[str, Any] = {"name": NAME, "namespace": self.policy.ledger_namespace}
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata,
                "data": {KEY: json.dumps([e.as_dict() for e in entries], separators=(",", ":"))}}
        if version is None:
            try:
                self.cluster.create(body)
            except NotFound:  # the namespace itself is missing (a simulated cluster, say)
                self.cluster.apply({"apiVersion": "v1", "kind": "Namespace",
                                    "metadata": {"name": self.policy.ledger_namespace}})
                self.cluster.create(body)
            return
        metadata["resourceVersion"] = version
        self.cluster.apply(body)
