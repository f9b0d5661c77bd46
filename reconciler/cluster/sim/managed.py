"""metadata.managedFields: who owns which fields (pure)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from reconciler.cluster.sim import schema
from reconciler.cluster.sim.clock import parse_rfc3339, rfc3339
from reconciler.cluster.sim.fieldsets import FieldSet, Path, config_set, from_fields_v1, to_fields_v1

CONTROLLER = "kube-controller-manager"


@dataclass(frozen=True)
class Entry:
    manager: str
    operation: str  # Apply | Update
    api_version: str
    fields: FieldSet
    time: str | None = None
    subresource: str = ""

    def same_owner(self, other: Entry) -> bool:
        return (self.manager, self.operation, self.subresource) == (other.manager, other.operation, other.subresource)

    def with_fields(self, fields: FieldSet) -> Entry:
        return replace(self, fields=fields)

    def display(self) -> str:
        """The manager as conflict messages print it."""
        text = f'"{self.manager}"'
        if self.subresource:
            text += f' with subresource "{self.subresource}"'
        if self.operation == "Update":  # manager identifiers carry no time
            text += f" using {self.api_version}"
        return text


def parse(meta: dict[str, Any]) -> list[Entry]:
    out = []
    for raw in meta.get("managedFields") or ():
        out.append(Entry(manager=raw.get("manager", ""), operation=raw.get("operation", "Update"),
                         api_version=raw.get("apiVersion", ""),
                         fields=frozenset(from_fields_v1(raw.get("fieldsV1") or {})),
                         time=raw.get("time"), subresource=raw.get("subresource", "")))
    return out


def encode(entries: list[Entry]) -> list[dict[str, Any]]:
    """Entries as the server lists them: Apply before Update, then oldest first, then by name."""
    def order(entry: Entry) -> tuple[str, float, str, str, str]:
        seconds = parse_rfc3339(entry.time) if entry.time else 0.0
        return (entry.operation, seconds, entry.manager, entry.api_version, entry.subresource)

    out = []
    for entry in sorted((e for e in entries if e.fields), key=order):
        raw: dict[str, Any] = {"manager": entry.manager, "operation": entry.operation,
                               "apiVersion": entry.api_version}
        if entry.time:
            raw["time"] = entry.time
        raw["fieldsType"] = "FieldsV1"
        raw["fieldsV1"] = to_fields_v1(entry.fields)
        if entry.subresource:
            raw["subresource"] = entry.subresource
        out.append(raw)
    return out


def sort_raw(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Raw entries in the server's order (see encode)."""
    def order(raw: dict[str, Any]) -> tuple[str, float, str, str, str]:
        seconds = parse_rfc3339(raw["time"]) if raw.get("time") else 0.0
        return (raw.get("operation", ""), seconds, raw.get("manager", ""), raw.get("apiVersion", ""),
                raw.get("subresource", ""))
    return sorted(entries, key=order)


def upsert(entries: list[Entry], entry: Entry) -> list[Entry]:
    """Replace the entry of the same owner (manager, operation, subresource), or add it."""
    return [e for e in entries if not e.same_owner(entry)] + [entry]


_TREES: dict[FieldSet, dict[str, Any]] = {}  # controllers write the same few shapes over and over


def record_update(obj: dict[str, Any], now: float, paths: set[Path], subresource: str = "",
                  manager: str = CONTROLLER) -> None:
    """Record that `manager` wrote `paths` (an Update operation) at `now` (the other managers'
    entries are left as they are)."""
    meta = obj["metadata"]
    key = frozenset(paths)
    tree = _TREES.get(key)
    if tree is None:
        if len(_TREES) > 1024:
            _TREES.clear()
        tree = _TREES[key] = to_fields_v1(key)
    mine: list[dict[str, Any]] = [{"manager": manager, "operation": "Update", "apiVersion": obj["apiVersion"],
                                   "time": rfc3339(now), "fieldsType": "FieldsV1", "fieldsV1": tree}]
    if subresource:
        mine[0]["subresource"] = subresource
    others = [e for e in meta.get("managedFields") or ()
              if (e.get("manager"), e.get("operation"), e.get("subresource", "")) != (manager, "Update", subresource)]
    meta["managedFields"] = sort_raw(others + mine)


def status_paths(obj: dict[str, Any], annotations: tuple[str, ...] = ()) -> set[Path]:
    """The fields of an object's status (and of some annotations) as field paths."""
    paths = config_set({"status": obj.get("status") or {}}, schema.root(obj["kind"]))
    present = obj["metadata"].get("annotations") or {}
    paths |= {("f:metadata", "f:annotations", "f:" + a) for a in annotations if a in present}
    return paths
