"""Safe, bounded parsing of soa-configs YAML and JSON documents (pure: bytes in, data out)."""

from __future__ import annotations

import functools
import json
from typing import Any

import yaml

try:  # libyaml's C loader is ~10x faster; the pure-Python one behaves the same.
    _SafeLoader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _SafeLoader = yaml.SafeLoader

_STR, _MAP, _SEQ, _MERGE = ("tag:yaml.org,2002:" + t for t in ("str", "map", "seq", "merge"))
_PLAIN_SCALARS = frozenset("tag:yaml.org,2002:" + t for t in
                           ("null", "bool", "int", "float", "timestamp", "binary"))


_RESOLVER = yaml.resolver.Resolver()


@functools.lru_cache(maxsize=16384)
def _plain_scalar_tag(value: str) -> str:
    """The implicit tag of a plain scalar; keys and common values repeat, so it is cached."""
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
    return tag


class _Loader(_SafeLoader):  # type: ignore[misc]
    """The safe loader, building plain data straight from the composed nodes.

    SafeConstructor's general machinery (generators for recursive data, bookkeeping per
    node) doubles the cost of loading; soa-configs need only mappings, sequences and plain
    scalars. Merge keys are resolved by SafeConstructor's own code; any other tag (sets,
    ordered maps, unknown or Python tags) goes through SafeConstructor unchanged.
    """

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            return _plain_scalar_tag(value)
        tag: str = super().resolve(kind, value, implicit)
        return tag

    def construct_document(self, node: yaml.Node) -> Any:
        return _Builder(self).build(node)


class _Builder:
    """Builds one document; an object rather than a closure, so no reference cycle is left."""

    def __init__(self, loader: _Loader) -> None:
        self.loader = loader
        self.constructors = loader.yaml_constructors
        self.memo: dict[yaml.Node, Any] = {}
        self.building: set[yaml.Node] = set()

    def build(self, node: yaml.Node) -> Any:
        tag = node.tag
        if isinstance(node, yaml.ScalarNode):
            if tag == _STR:
                return node.value
            if tag in _PLAIN_SCALARS:
                return self.constructors[tag](self.loader, node)
        if node in self.building:
            raise ParseError("invalid YAML: an alias refers to a node that contains it (recursive)")
        if node in self.memo:
            return self.memo[node]
        if isinstance(node, yaml.MappingNode) and tag == _MAP:
            self._refuse_duplicates(node)
            self.loader.flatten_mapping(node)
            self.building.add(node)
            mapping: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.build(key_node)
                try:
                    mapping[key] = self.build(value_node)
                except TypeError:
                    line = key_node.start_mark.line + 1
                    raise ParseError(f"invalid YAML at line {line}: a mapping key must be a "
                                     "plain value, not a list or mapping") from None
            self.building.discard(node)
            self.memo[node] = mapping
            return mapping
        if isinstance(node, yaml.SequenceNode) and tag == _SEQ:
            self.building.add(node)
            sequence = [self.build(child) for child in node.value]
            self.building.discard(node)
            self.memo[node] = sequence
            return sequence
        # anything else (sets, ordered maps, unknown tags): SafeConstructor, which may refuse it
        value = yaml.constructor.SafeConstructor.construct_document(self.loader, node)
        self.memo[node] = value
        return value

    def _refuse_duplicates(self, node: yaml.MappingNode) -> None:
        """A key written twice in one mapping is an error, never last-wins (keys brought in by a
        `<<` merge are not written here: the mapping's own keys override them, as YAML says)."""
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE:
                continue
            key = self.build(key_node)
            mark = key_node.start_mark
            try:
                earlier = first.get(key)
                if earlier is None:
                    first[key] = mark.line + 1
                    continue
            except TypeError:
                continue  # an unhashable key: refused when the mapping is built
            raise ParseError(f"duplicate key {key!r} at line {mark.line + 1}, column {mark.column + 1} "
                             f"(first at line {earlier}): a key may appear once")


#: Largest document, counted as nodes once every alias is expanded.
MAX_EXPANDED_NODES = 1_000_000
#: Deepest nesting accepted; soa-configs documents are a handful of levels deep.
MAX_DEPTH = 64


class ParseError(ValueError):
    """A document that cannot be used at all; the message says why and where."""


def decode_utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ParseError(
            f"not valid UTF-8: byte 0x{data[exc.start]:02x} at line {line} (offset {exc.start})"
        ) from None


def parse_yaml(data: bytes) -> Any:
    """Parse one YAML document with the safe loader; refuse alias bombs and deep nesting."""
    text = decode_utf8(data)
    try:
        doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise ParseError(f"invalid YAML{where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise ParseError(f"invalid YAML: {exc}") from None
    except RecursionError:
        raise ParseError(f"invalid YAML: nested deeper than {MAX_DEPTH} levels") from None
    if "*" in text:  # without aliases, size and depth are bounded by the text itself
        check_bounded(doc)
    return doc


class _DuplicateJsonKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateJsonKey(key)
            seen.add(key)
    return out


def parse_json(data: bytes) -> Any:
    """Parse one JSON document; a key twice in one object is an error naming it (and its line)."""
    text = decode_utf8(data)
    try:
        doc = json.loads(text, object_pairs_hook=_unique_pairs)
    except _DuplicateJsonKey as exc:
        try:  # JSON is YAML: its parser says where the second one is
            parse_yaml(data)
        except ParseError as located:
            if "duplicate key" in str(located):
                raise ParseError(str(located).replace("invalid YAML", "invalid JSON")) from None
        raise ParseError(f"duplicate key {exc.key!r}: a key may appear once") from None
    except json.JSONDecodeError as exc:
        raise ParseError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise ParseError("invalid JSON: nested too deeply") from None
    return doc  # JSON has no aliases: its size is the text's


def check_bounded(doc: Any) -> None:
    """Raise ParseError when `doc`, with aliases expanded, is too large, too deep or recursive.

    Aliases are shared objects after loading, so the count is memoised per object:
    the check costs time proportional to the document as written, not as expanded.
    """
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()

    def size(node: Any, depth: int) -> int:
        if not isinstance(node, (dict, list)):
            return 1
        ident = id(node)
        known = sizes.get(ident)
        if known is not None:
            return known
        if ident in in_progress:
            raise ParseError("invalid YAML: an alias refers to a node that contains it (recursive)")
        if depth > MAX_DEPTH:
            raise ParseError(f"invalid YAML: nested deeper than {MAX_DEPTH} levels")
        in_progress.add(ident)
        children = node.values() if isinstance(node, dict) else node
        total = 1 + sum(size(child, depth + 1) for child in children)
        in_progress.discard(ident)
        if total > MAX_EXPANDED_NODES:
            raise ParseError(
                f"document too large: over {MAX_EXPANDED_NODES:,} nodes once aliases are "
                "expanded (an alias bomb?)"
            )
        sizes[ident] = total
        return total

    size(doc, 0)
