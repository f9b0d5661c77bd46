"""Merging an applied configuration into a live object (pure), as structured-merge-diff does:
granular maps and structs merge field by field, keyed lists item by item (keeping the live
position of items the configuration does not mention), everything else is replaced."""

from __future__ import annotations

import marshal
from typing import Any

from reconciler.cluster.sim import schema
from reconciler.cluster.sim.fieldsets import item_element
from reconciler.cluster.sim.schema import Node


def clone(value: Any) -> Any:
    """A deep copy of JSON-like data (fast: marshal is written in C)."""
    return marshal.loads(marshal.dumps(value))


def merge(live: Any, config: Any, node: Node | None) -> Any:
    if node is not None and node.granular and isinstance(config, dict):
        out = dict(live) if isinstance(live, dict) else {}
        for name, value in config.items():
            if value is None:
                continue
            out[name] = merge(out.get(name), value, schema.child(node, name))
        return out
    if node is not None and node.kind == "list" and node.list_type in ("map", "set") \
            and isinstance(config, list):
        return _merge_list(live if isinstance(live, list) else [], config, node)
    return clone(config)


def _merge_list(lhs: list[Any], rhs: list[Any], node: Node) -> list[Any]:
    """structured-merge-diff's visitListItems: the configuration's order for the items it names,
    live-only items kept where they were."""
    lhs_keys = [item_element(item, node) for item in lhs]
    rhs_keys = [item_element(item, node) for item in rhs]
    observed_lhs = {k: item for k, item in zip(lhs_keys, lhs)}
    observed_rhs = {k: item for k, item in zip(rhs_keys, rhs)}
    shared = [k for k in rhs_keys if k in observed_lhs]
    next_shared = shared.pop(0) if shared else None
    merged_rhs: set[str] = set()
    out: list[Any] = []
    li = ri = 0
    while li < len(lhs_keys) or ri < len(rhs_keys):
        if li < len(lhs_keys) and ri < len(rhs_keys):
            key = lhs_keys[li]
            if key == rhs_keys[ri]:
                merged_rhs.add(key)
                out.append(_merge_item(observed_lhs.get(key), observed_rhs[key], node))
                li += 1
                ri += 1
                next_shared = shared.pop(0) if shared else None
                continue
            if key in observed_rhs and next_shared is not None and next_shared != key:
                li += 1
                continue
        if li < len(lhs_keys):
            key = lhs_keys[li]
            if key not in observed_rhs:
                out.append(clone(lhs[li]))
                li += 1
                continue
            if key in merged_rhs:
                li += 1
                continue
        if ri < len(rhs_keys):
            key = rhs_keys[ri]
            merged_rhs.add(key)
            out.append(_merge_item(observed_lhs.get(key), observed_rhs[key], node))
            ri += 1
            if next_shared is not None and next_shared == key:
                next_shared = shared.pop(0) if shared else None
    return out


def _merge_item(live: Any, config: Any, node: Node) -> Any:
    if node.list_type == "set":
        return clone(config)
    return merge(live, config, node.elem)
