"""The shape of the kinds the simulated cluster stores: which maps are granular or atomic, which
lists are keyed (and by what), which strings are quantities. Read from the generated OpenAPI data
of a real API server (`_schema_data.py`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from reconciler.cluster.sim._schema_data import DATA


@dataclass(frozen=True)
class Node:
    """One field's type. kind: scalar | quantity | untyped | struct | map | list."""

    kind: str
    type_name: str = ""  # struct
    atomic: bool = False  # struct or map replaced as a whole by an apply
    elem: Node | None = None  # map values, list items
    list_type: str = ""  # list: atomic | set | map
    keys: tuple[str, ...] = ()  # list_type map
    default: Any = None  # the OpenAPI default: present only on non-omitempty fields
    has_default: bool = False

    @property
    def granular(self) -> bool:
        return self.kind in ("struct", "map") and not self.atomic


_RAW: dict[str, Any] = json.loads("".join(DATA))
UNTYPED = Node("untyped", atomic=True)
SCALAR = Node("scalar")


def _parse(code: str) -> Node:
    default: Any = None
    has_default = "=" in code  # type codes never contain "="; what follows is the JSON default
    if has_default:
        code, _, raw = code.partition("=")
        default = json.loads(raw)
    if code == "s":
        return Node("scalar", default=default, has_default=has_default)
    if code == "q":
        return Node("quantity", default=default, has_default=has_default)
    if code == "A":
        return Node("untyped", atomic=True, default=default, has_default=has_default)
    if code == "M":
        return Node("map", atomic=True, elem=SCALAR, default=default, has_default=has_default)
    if code.startswith(("t:", "a:")):
        return Node("struct", type_name=code[2:], atomic=code[0] == "a", default=default, has_default=has_default)
    if code.startswith("m:"):
        return Node("map", elem=_parse(code[2:]), default=default, has_default=has_default)
    if code.startswith("l:"):
        _, list_type, rest = code.split(":", 2)
        keys: tuple[str, ...] = ()
        if list_type == "map":
            key_text, _, rest = rest.partition(":")
            keys = tuple(key_text.split(","))
        return Node("list", list_type=list_type, keys=keys, elem=_parse(rest), default=default,
                    has_default=has_default)
    raise ValueError(f"bad schema code {code!r}")


@lru_cache(maxsize=None)
def fields(type_name: str) -> dict[str, Node]:
    """The fields of a struct type."""
    return {name: _parse(code) for name, code in _RAW["types"].get(type_name, {}).items()}


def root(kind: str) -> Node:
    """The node of a whole object of `kind` (untyped when the kind is not known)."""
    type_name = _RAW["roots"].get(kind)
    return Node("struct", type_name=type_name) if type_name else UNTYPED


def child(node: Node | None, name: str) -> Node | None:
    """The node of field/key `name` under `node`; None when the schema does not declare it."""
    if node is None:
        return None
    if node.kind == "struct" and not node.atomic:
        return fields(node.type_name).get(name)
    if node.kind == "map":
        return node.elem
    return None


def key_defaults(node: Node) -> dict[str, Any]:
    """Defaults of a keyed list's key fields (ports: protocol TCP), applied before matching items."""
    if node.elem is None or node.elem.kind != "struct":
        return {}
    item = fields(node.elem.type_name)
    return {k: item[k].default for k in node.keys if k in item and item[k].has_default and item[k].default != ""}
