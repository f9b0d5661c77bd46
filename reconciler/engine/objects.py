"""Reading Kubernetes objects in API (camelCase) dict form, tolerant of missing or odd parts (pure).

Every engine module reads objects the same way: a missing or non-mapping `metadata`, `labels`
or `spec` reads as empty, never as an error; a key is (kind, namespace, name).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: (kind, namespace, name): how desired and live objects are paired.
Key = tuple[str, str | None, str]


def meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The object's metadata, or {}."""
    found = obj.get("metadata")
    return found if isinstance(found, Mapping) else {}


def section(obj: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """A mapping inside the metadata (`labels`, `annotations`), or {}."""
    found = meta(obj).get(name)
    return found if isinstance(found, Mapping) else {}


def spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The object's spec, or {}."""
    found = obj.get("spec")
    return found if isinstance(found, Mapping) else {}


def key_of(obj: Mapping[str, Any]) -> Key:
    """(kind, namespace, name); a namespace that is not a string reads as None."""
    metadata = meta(obj)
    namespace = metadata.get("namespace")
    return (str(obj.get("kind", "")), namespace if isinstance(namespace, str) else None,
            str(metadata.get("name", "")))


def plain(value: Any) -> Any:
    """A deep copy as plain dicts and lists (for comparisons that take dicts)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
