"""A workload and the objects its controller made, held in memory while the simulation advances."""

from __future__ import annotations

import marshal
from dataclasses import dataclass, field
from typing import Any

from reconciler.cluster.sim.pods import Settings
from reconciler.cluster.sim.store import Row

Obj = dict[str, Any]


@dataclass
class Group:
    root: Row
    children: dict[tuple[str, str], Row] = field(default_factory=dict)
    settings: Settings = field(default_factory=Settings)
    removed: set[tuple[str, str]] = field(default_factory=set)

    def of(self, kind: str) -> list[Row]:
        """Children of a kind, oldest first (creation time, then name)."""
        rows = [r for (k, _), r in self.children.items() if k == kind]
        return sorted(rows, key=lambda r: (float(r.sim.get("created", 0.0)), r.name))

    def add(self, row: Row) -> Row:
        row.root = self.root.uid
        self.children[(row.kind, row.name)] = row
        self.removed.discard((row.kind, row.name))
        return row

    def remove(self, row: Row) -> None:
        self.children.pop((row.kind, row.name), None)
        self.removed.add((row.kind, row.name))

    def snapshot(self) -> bytes:
        """Something that changes whenever the controllers change anything (pods change only by
        being made, removed or refreshed, which moves their `epoch`)."""
        parts: list[object] = [self.root.obj, self.root.sim]
        for key in sorted(self.children):
            row = self.children[key]
            parts.append((key, row.sim.get("epoch")) if key[0] == "Pod" else (key, row.obj, row.sim))
        return marshal.dumps(parts)
