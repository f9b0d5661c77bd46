"""The rendering a field manager applied, recovered from a live object, and packed for an annotation.

`owned_fields` reads the manager's `Apply` entry of `metadata.managedFields`: its FieldsV1 tree
names exactly the fields that manager set, and their values are taken from the live object (as
the server normalised them). FieldsV1 elements, per the ManagedFieldsEntry reference:

- `f:<name>`: a struct field or a map key;
- `k:<json>`: the item of a keyed list whose key fields have these values (a key the item
  lacks takes the server's default: `protocol` is "TCP");
- `v:<json>`: the item of a set equal to this value;
- `i:<n>`: the list item at position n;
- `.`: the node itself (a member that also has members below it).

A leaf (an empty tree) means the whole value at that path: atomic maps and lists (`selector`,
`nodeSelector`, `command`, `args`, `volumeClaimTemplates`), and a granular field the manager
applied empty. Owned fields the live object lacks (zero values the server omits, such as
`minReadySeconds: 0`) are left out, so re-applying the result can release their ownership.

`pack`/`unpack`: canonical JSON, zlib, base64 — for the `last-healthy` annotation.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

#: Key fields the server fills in when an item leaves them out (`k:` elements carry them).
_KEY_DEFAULTS: dict[str, Any] = {"protocol": "TCP"}
#: `unpack` refuses more decompressed JSON than this (a zip bomb in an annotation).
MAX_UNPACKED = 1024 * 1024
#: `pack` refuses to produce more than this: all of an object's annotations share 256 KiB.
MAX_PACKED = 64 * 1024


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


def owned_fields(obj: Mapping[str, Any], manager: str = "reconciler") -> dict[str, Any] | None:
    """The sub-object of `obj` made of the fields `manager`'s Apply entry owns (subresource
    entries aside), plus apiVersion, kind, metadata.name and metadata.namespace; None when there
    is no such entry. ValueError on a malformed entry, or one recorded in another apiVersion
    (its field paths may not be the object's)."""
    metadata = obj.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    entries = metadata.get("managedFields")
    tree: dict[str, Any] | None = None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, Mapping) or entry.get("manager") != manager \
                or entry.get("operation") != "Apply" or entry.get("subresource"):
            continue
        if entry.get("fieldsType", "FieldsV1") != "FieldsV1":
            raise ValueError(f"managedFields entry of {manager!r}: unsupported fieldsType "
                             f"{entry.get('fieldsType')!r}")
        recorded, read = entry.get("apiVersion"), obj.get("apiVersion")
        if recorded and read and recorded != read:
            raise ValueError(f"managedFields entry of {manager!r} is for {recorded}, the object is {read}: "
                             "read the object in the version it was applied in")
        fields = entry.get("fieldsV1", {})
        if not isinstance(fields, Mapping):
            raise ValueError(f"managedFields entry of {manager!r}: fieldsV1 is not an object")
        tree = union(tree or {}, fields)
    if tree is None:
        return None
    projected = _project(obj, _Node(tree, "")) if tree else {}
    out: dict[str, Any] = projected if isinstance(projected, dict) else {}
    identity = {k: metadata[k] for k in ("name", "namespace") if k in metadata}
    head = {k: obj[k] for k in ("apiVersion", "kind") if k in obj}
    out["metadata"] = {**identity, **(out.get("metadata") or {})}
    return {**head, **{k: v for k, v in out.items() if k not in head}}


def strip_annotations(obj: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """A deep copy of `obj` without the given annotation keys (and without `annotations` once
    it is empty)."""
    out: dict[str, Any] = copy.deepcopy(dict(obj))
    metadata = out.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("annotations"), dict):
        annotations = metadata["annotations"]
        for key in keys:
            annotations.pop(key, None)
        if not annotations:
            del metadata["annotations"]
    return out


def pack(obj: Mapping[str, Any]) -> str:
    """`obj` as an annotation value: canonical JSON (sorted keys, compact), zlib, base64.
    Raises ValueError when it is not JSON or too large for an annotation."""
    try:
        text = json.dumps(dict(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cannot pack: not a JSON object: {exc}") from exc
    data = text.encode("utf-8")
    if len(data) > MAX_UNPACKED:
        raise ValueError(f"cannot pack: {len(data)} bytes of JSON, more than {MAX_UNPACKED}")
    packed = base64.b64encode(zlib.compress(data, 9)).decode("ascii")
    if len(packed) > MAX_PACKED:
        raise ValueError(f"cannot pack: {len(packed)} characters packed, more than {MAX_PACKED}")
    return packed


def unpack(text: str) -> dict[str, Any]:
    """The object `pack` encoded; ValueError naming what is wrong with anything else."""
    if not isinstance(text, str):
        raise ValueError(f"packed value is a {type(text).__name__}, not a string")
    if not text:
        raise ValueError("packed value is empty")
    try:
        compressed = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise ValueError(f"packed value is not base64: {exc}") from exc
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(compressed, MAX_UNPACKED + 1)
    except zlib.error as exc:
        raise ValueError(f"packed value is not zlib data: {exc}") from exc
    if len(data) > MAX_UNPACKED or inflater.unconsumed_tail:
        raise ValueError(f"packed value decompresses to more than {MAX_UNPACKED} bytes")
    if not inflater.eof:
        raise ValueError("packed value is truncated zlib data")
    if inflater.unused_data:
        raise ValueError("packed value has data after its zlib stream")
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"packed value is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError(f"packed value is a JSON {type(value).__name__}, not an object")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def union(left: Mapping[str, Any], right: Mapping[str, Any]) -> dict[str, Any]:
    """Two FieldsV1 trees merged (the union of their sets)."""
    out = dict(left)
    for key, sub in right.items():
        if not isinstance(sub, Mapping):
            raise ValueError(f"FieldsV1 element {key!r} maps to {sub!r}, not an object")
        out[key] = union(out[key], sub) if key in out else dict(sub)
    return out


class _Node:
    """A parsed FieldsV1 tree: whether the node itself is a member (`.`, or a leaf), and what
    it owns below by field name or by list item."""

    def __init__(self, tree: Mapping[str, Any], where: str) -> None:
        self.tree, self.where = tree, where
        self.leaf = not tree
        self.member = "." in tree
        self.fields: dict[str, _Node] = {}
        self.items: list[tuple[_Matcher, _Node]] = []
        for element, sub in tree.items():
            if element == ".":
                continue
            if not isinstance(sub, Mapping):
                raise ValueError(f"FieldsV1 element {element!r} at {where or '<root>'} maps to {sub!r}, "
                                 "not an object")
            if element.startswith("f:"):
                self.fields[element[2:]] = _Node(sub, f"{where}.{element[2:]}")
            else:
                self.items.append((parse_item(element, where), _Node(sub, f"{where}[{element}]")))
        if self.fields and self.items:
            raise ValueError(f"FieldsV1 at {where or '<root>'} mixes fields and list items")


def project(value: Any, tree: Mapping[str, Any]) -> Any:
    """The part of `value` a FieldsV1 `tree` names (None when it names none of it)."""
    got = _project(value, _Node(tree, ""))
    return None if got is _MISSING else got


def subtract(tree: Mapping[str, Any], taken: Mapping[str, Any]) -> dict[str, Any]:
    """`tree` without the fields of `taken` (a node `taken` names whole goes with all below it)."""
    out: dict[str, Any] = {}
    for element, sub in tree.items():
        if element not in taken:
            out[element] = sub
            continue
        if not taken[element]:
            continue  # the whole node is taken
        rest = subtract(sub, taken[element])
        if rest and set(rest) != {"."}:
            out[element] = rest
    return out


def _project(value: Any, node: _Node) -> Any:
    """The part of `value` that `node` owns, or `_MISSING` when `value` holds none of it (a node
    that is itself a member is kept, even empty)."""
    if node.leaf:
        return copy.deepcopy(value)
    out: Any
    if node.items:
        if not isinstance(value, list):
            return _MISSING
        out = [got for index, item in enumerate(value)
               if (got := _project_item(index, item, node.items)) is not _MISSING]
    elif not isinstance(value, dict):
        return copy.deepcopy(value) if node.member else _MISSING
    else:
        out = {}
        for name, sub in value.items():
            got = _project(sub, node.fields[name]) if name in node.fields else _MISSING
            if got is not _MISSING:
                out[name] = got
    return out if out or node.member else _MISSING


def _project_item(index: int, item: Any, items: list[tuple[_Matcher, _Node]]) -> Any:
    """One list item cut down to what the elements matching it own. A keyed item none of whose
    key fields is owned (a bare `.`) gets them all, so that it stays identifiable."""
    matched = [(match, node) for match, node in items if match(index, item)]
    if not matched:
        return _MISSING
    node = matched[0][1]
    for _, other in matched[1:]:  # several elements naming one item (`i:` and `k:`): their union
        node = _Node(union(node.tree, other.tree), node.where)
    got = _project(item, node)
    keys = [m.key for m, _ in matched if isinstance(m, ByKey)]
    if keys and isinstance(got, dict) and not set(keys[0]) & set(got):
        got = {**{k: item.get(k, v) for k, v in keys[0].items()}, **got}
    return got


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class ByKey:
    """Matches a keyed-list item by its key fields (`k:<json>`)."""

    def __init__(self, key: dict[str, Any]) -> None:
        self.key = key
        self._want = {k: _canonical(v) for k, v in key.items()}

    def __call__(self, index: int, item: Any) -> bool:
        if not isinstance(item, dict):
            return False
        return all(_canonical(item.get(k, _KEY_DEFAULTS.get(k))) == want for k, want in self._want.items())


class _ByValue:
    """Matches a set item by value (`v:<json>`)."""

    def __init__(self, value: Any) -> None:
        self._want = _canonical(value)

    def __call__(self, index: int, item: Any) -> bool:
        return _canonical(item) == self._want


class _ByIndex:
    """Matches the item at a position (`i:<n>`)."""

    def __init__(self, position: int) -> None:
        self._position = position

    def __call__(self, index: int, item: Any) -> bool:
        return index == self._position


_Matcher = ByKey | _ByValue | _ByIndex


def parse_item(element: str, where: str) -> _Matcher:
    prefix, _, body = element.partition(":")
    at = where or "<root>"
    try:
        if prefix == "k":
            key = json.loads(body)
            if not isinstance(key, dict) or not key:
                raise ValueError("not a non-empty JSON object")
            return ByKey(key)
        if prefix == "v":
            return _ByValue(json.loads(body))
        if prefix == "i":
            if not (body.isascii() and body.isdigit()):
                raise ValueError("not a list position")
            return _ByIndex(int(body))
    except ValueError as exc:
        raise ValueError(f"FieldsV1 element {element!r} at {at}: {exc}") from exc
    raise ValueError(f"FieldsV1 element {element!r} at {at}: unknown kind (expected f:, k:, v:, i: or .)")
