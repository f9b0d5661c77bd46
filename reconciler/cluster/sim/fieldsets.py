"""Field ownership for server-side apply (pure): sets of field paths, their FieldsV1 form, and
looking values up by path.

A path is a tuple of FieldsV1 elements: `f:<field>` (a struct field or map key), `k:<json>` (an
item of a keyed list, by its key fields), `v:<json>` (an item of a set). A set of paths holds
the *members*: the leaves a manager set, and the keyed-list items themselves.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from reconciler.cluster.sim import schema
from reconciler.cluster.sim.schema import Node

Path = tuple[str, ...]
FieldSet = frozenset[Path]
_MISSING = object()


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def item_key(item: Any, node: Node) -> dict[str, Any]:
    """The key fields of a keyed-list item, with the key defaults the server fills (protocol TCP)."""
    defaults = schema.key_defaults(node)
    if not isinstance(item, dict):
        return {}
    return {k: item[k] if k in item else defaults[k] for k in node.keys if k in item or k in defaults}


def item_element(item: Any, node: Node) -> str:
    """The path element of a list item: `k:{...}` for keyed lists, `v:...` for sets."""
    if node.list_type == "map":
        return "k:" + _compact(item_key(item, node))
    return "v:" + _compact(item)


def config_set(value: dict[str, Any], node: Node) -> set[Path]:
    """The fields an applied configuration sets (what its manager will own)."""
    out: set[Path] = set()
    _walk_config(value, node, (), out)
    return out


def _walk_config(value: Any, node: Node | None, prefix: Path, out: set[Path]) -> None:
    for name, sub in value.items():
        if sub is None:
            continue
        path = prefix + ("f:" + name,)
        child = schema.child(node, name)
        if child is not None and child.granular and isinstance(sub, dict) and sub:
            _walk_config(sub, child, path, out)
        elif child is not None and child.kind == "list" and child.list_type in ("map", "set") \
                and isinstance(sub, list):
            for item in sub:  # an empty keyed list sets nothing (the server records no field)
                item_path = path + (item_element(item, child),)
                out.add(item_path)
                if child.list_type == "map" and isinstance(item, dict) and child.elem is not None \
                        and child.elem.granular:
                    _walk_config(item, child.elem, item_path, out)
        else:
            out.add(path)


def to_fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    """The FieldsV1 JSON of a set ("." marks a member that also has members below it)."""
    tree: dict[str, Any] = {}
    members = set(paths)
    for path in sorted(members):
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    for path in members:
        node = tree
        for element in path:
            node = node[element]
        if node and "." not in node:
            node["."] = {}
    return _sorted(tree)


def _sorted(tree: dict[str, Any]) -> dict[str, Any]:
    return {k: _sorted(tree[k]) for k in sorted(tree)}


def from_fields_v1(tree: dict[str, Any]) -> set[Path]:
    out: set[Path] = set()
    _walk_v1(tree, (), out)
    return out


def _walk_v1(tree: dict[str, Any], prefix: Path, out: set[Path]) -> None:
    for element, sub in tree.items():
        if element == ".":
            out.add(prefix)
            continue
        path = prefix + (element,)
        if not sub:
            out.add(path)
        else:
            _walk_v1(sub, path, out)


def ensure_named(paths: Iterable[Path], node: Node) -> set[Path]:
    """The set plus every struct field above a member (SMD's EnsureNamedFieldsAreMembers)."""
    out = set(paths)
    nodes: dict[Path, Node | None] = {(): node}

    def node_of(prefix: Path) -> Node | None:
        if prefix not in nodes:
            nodes[prefix] = _step(node_of(prefix[:-1]), prefix[-1])
        return nodes[prefix]

    for path in list(out):
        for depth in range(len(path) - 1):
            if path[depth].startswith("f:"):
                parent = node_of(path[:depth])
                if parent is None:
                    break
                if parent.kind == "struct":
                    out.add(path[:depth + 1])
    return out


def _step(node: Node | None, element: str) -> Node | None:
    if node is None:
        return None
    if element.startswith("f:"):
        return schema.child(node, element[2:])
    return node.elem if node.kind == "list" else None


def node_at(path: Path, node: Node) -> Node | None:
    current: Node | None = node
    for element in path:
        current = _step(current, element)
    return current


def lookup(obj: Any, path: Path, node: Node) -> Any:
    """The value at `path`, or `MISSING`."""
    current: Any = obj
    current_node: Node | None = node
    for element in path:
        if element.startswith("f:"):
            if not isinstance(current, dict) or element[2:] not in current:
                return _MISSING
            current = current[element[2:]]
        else:
            if not isinstance(current, list) or current_node is None:
                return _MISSING
            found = _find_item(current, element, current_node)
            if found is None:
                return _MISSING
            current = current[found]
        current_node = _step(current_node, element)
    return current


MISSING = _MISSING


def _find_item(items: list[Any], element: str, node: Node) -> int | None:
    for index, item in enumerate(items):
        if item_element(item, node) == element:
            return index
    return None


def remove(obj: dict[str, Any], path: Path, node: Node) -> None:
    """Delete the value at `path` (an item of a list, a field, a map key) if it is there, and
    the maps above it that this leaves empty."""
    parents: list[tuple[Any, str | int]] = []
    current: Any = obj
    current_node: Node | None = node
    for element in path:
        if element.startswith("f:"):
            if not isinstance(current, dict) or element[2:] not in current:
                return
            parents.append((current, element[2:]))
            current = current[element[2:]]
        else:
            if not isinstance(current, list) or current_node is None:
                return
            index = _find_item(current, element, current_node)
            if index is None:
                return
            parents.append((current, index))
            current = current[index]
        current_node = _step(current_node, element)
    for depth in range(len(parents) - 1, -1, -1):
        container, key = parents[depth]
        del container[key]
        if container or depth == 0:
            break


def describe(path: Path) -> str:
    """A path as the API server prints it in conflicts: .spec.containers[name="a"].image"""
    out = ""
    for element in path:
        if element.startswith("f:"):
            out += "." + element[2:]
        elif element.startswith("k:"):
            key = json.loads(element[2:])
            out += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in key.items()) + "]"
        else:
            out += f"[={element[2:]}]"
    return out
