"""The freezes in force on a cluster: configured windows, and ad-hoc freezes (`reconciler freeze` /
`unfreeze`) stored on the cluster they freeze.

They live in one annotation, `<label_domain>/freezes`, of the lease namespace: a JSON list of
`{name, until, services, allow, reason, by, at}`. Every replica and every CLI run reads the same
value, and it survives restarts. Writes carry the resourceVersion they read (a concurrent
writer gets a 409 and the change is made again on a fresh read).

An annotation that cannot be read freezes the whole cluster (with the reason): a freeze someone
set must never be lost to a typo.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, tzinfo
from typing import Any

from reconciler.cluster.errors import Conflict, NotFound
from reconciler.cluster.protocol import Cluster
from reconciler.config.cron import window_end
from reconciler.config.model import FREEZE_ALLOWS, FreezeWindow
from reconciler.engine.freeze import Freeze
from reconciler.engine.marks import parse_time, rfc3339
from reconciler.engine.policy import Policy

FREEZE_MANAGER = "reconciler-freeze"
ATTEMPTS = 5


def _one(item: Any) -> Freeze:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise ValueError("an entry is not a mapping with a name")
    until = parse_time(item["until"]) if item.get("until") is not None else None
    if item.get("until") is not None and until is None:
        raise ValueError(f"freeze {item['name']!r}: 'until' is not a time")
    services = item.get("services")
    allow = item.get("allow") or []
    if services is not None and not (isinstance(services, list) and all(isinstance(s, str) for s in services)):
        raise ValueError(f"freeze {item['name']!r}: 'services' is not a list of names")
    if not isinstance(allow, list) or any(a not in FREEZE_ALLOWS for a in allow):
        raise ValueError(f"freeze {item['name']!r}: 'allow' is not a list of {', '.join(FREEZE_ALLOWS)}")
    return Freeze(item["name"], until, frozenset(services) if services is not None else None, frozenset(allow),
                  str(item.get("reason") or ""), source="ad-hoc")


def parse(namespace: dict[str, Any] | None, key: str) -> tuple[Freeze, ...]:
    """The ad-hoc freezes in a Namespace object; an unreadable value is one freeze of everything."""
    raw = ((namespace or {}).get("metadata") or {}).get("annotations", {}) or {}
    text = raw.get(key)
    if not text:
        return ()
    try:
        items = json.loads(text)
        if not isinstance(items, list):
            raise ValueError("not a JSON list")
        return tuple(_one(item) for item in items)
    except ValueError as exc:
        return (Freeze("unreadable-freeze", None, reason=f"annotation {key} cannot be read ({exc}): every "
                                                         "change is held until it is fixed or cleared "
                                                         "(reconciler unfreeze)", source="ad-hoc"),)


def active(windows: Iterable[FreezeWindow], adhoc: Iterable[Freeze], cluster: str, now: datetime,
           zone: tzinfo) -> tuple[Freeze, ...]:
    """The freezes in force on `cluster` at `now`: its configured windows that are open, and the
    ad-hoc freezes that have not ended."""
    out = []
    for window in windows:
        if window.clusters is not None and cluster not in window.clusters:
            continue
        end = window_end(window.schedule, window.duration, now, zone)
        if end is not None:
            out.append(Freeze(window.name, end, window.services, window.allow, source="config"))
    out.extend(f for f in adhoc if f.until is None or f.until > now)
    return tuple(out)


def read_freezes(cluster: Cluster, policy: Policy) -> tuple[Freeze, ...]:
    """The ad-hoc freezes stored on `cluster` (none when the lease namespace does not exist)."""
    try:
        namespace = cluster.get("Namespace", policy.ledger_namespace)
    except NotFound:
        return ()
    return parse(namespace, policy.key("freezes"))


def entry(freeze: Freeze, *, by: str, at: datetime) -> dict[str, Any]:
    return {"name": freeze.name, "until": rfc3339(freeze.until) if freeze.until else None,
            "services": sorted(freeze.services) if freeze.services is not None else None,
            "allow": sorted(freeze.allow), "reason": freeze.reason, "by": by, "at": rfc3339(at)}


class UnreadableFreezes(ValueError):
    """The stored freezes cannot be read: only clearing them all may write (nothing is lost)."""


def update_freezes(cluster: Cluster, policy: Policy,
                   change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]], *,
                   clear_unreadable: bool = False) -> list[dict[str, Any]]:
    """Read the stored entries, apply `change` and write the result back (retried on a conflict);
    the entries written. A stored value that cannot be read raises UnreadableFreezes unless
    `clear_unreadable` (`unfreeze --all`): a freeze someone set is never dropped by accident."""
    key = policy.key("freezes")
    for _ in range(ATTEMPTS):
        try:
            namespace = cluster.get("Namespace", policy.ledger_namespace)
        except NotFound:
            namespace = None
        meta = (namespace or {}).get("metadata") or {}
        text = (meta.get("annotations") or {}).get(key) or "[]"
        try:
            current = json.loads(text)
            if not isinstance(current, list):
                raise ValueError("not a JSON list")
        except ValueError as exc:
            if not clear_unreadable:
                raise UnreadableFreezes(f"annotation {key} of namespace {policy.ledger_namespace} on {policy.cluster} "
                                        f"cannot be read ({exc}); fix it by hand or clear every ad-hoc freeze with "
                                        "reconciler unfreeze --all") from None
            current = []
        new = change(current)
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "Namespace",
                                "metadata": {"name": policy.ledger_namespace,
                                             "annotations": {key: json.dumps(new, sort_keys=True)}}}
        if namespace is None:
            cluster.apply(body, field_manager=FREEZE_MANAGER)
            return new
        body["metadata"]["resourceVersion"] = meta.get("resourceVersion")
        try:
            cluster.apply(body, field_manager=FREEZE_MANAGER)
            return new
        except Conflict:
            continue
    raise Conflict(f"the freezes of {policy.cluster} kept changing under this write; try again")


def without(entries: Sequence[dict[str, Any]], name: str | None) -> list[dict[str, Any]]:
    """The entries but the one named `name` (None: none left)."""
    return [] if name is None else [e for e in entries if not (isinstance(e, dict) and e.get("name") == name)]
