"""Safe, bounded parsing of soa-configs YAML and JSON documents (pure: bytes in, data out)."""

from __future__ import annotations

import json
from typing import Any

import yaml

try:  # libyaml's C loader is ~10x faster; the pure-Python one behaves the same.
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader

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


def parse_json(data: bytes) -> Any:
    text = decode_utf8(data)
    try:
        doc = json.loads(text)
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
