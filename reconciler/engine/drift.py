"""Drift: the fields the reconciler owns that differ between a desired and a live object.

A subset comparison: only what the desired object sets is compared. Both sides are first
aligned (lists with a merge key matched by key, not position; empty desired values the server
drops matched by an absent live field; ignored JSON pointers removed) and normalised
(Kubernetes quantities, int-or-string), then compared: equal subtrees are skipped with `==`,
and DeepDiff compares the ones that differ.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from deepdiff import DeepDiff

#: Lists Kubernetes merges by key (patchMergeKey / listMapKeys), by the field that holds them.
_KEYS: dict[str, Callable[[Any], object]] = {
    "containers": lambda e: e.get("name"),
    "initContainers": lambda e: e.get("name"),
    "ephemeralContainers": lambda e: e.get("name"),
    "env": lambda e: e.get("name"),
    "volumes": lambda e: e.get("name"),
    "imagePullSecrets": lambda e: e.get("name"),
    "volumeMounts": lambda e: e.get("mountPath"),
    "volumeDevices": lambda e: e.get("devicePath"),
    "volumeClaimTemplates": lambda e: (e.get("metadata") or {}).get("name"),
    "ports": lambda e: (e.get("containerPort", e.get("port")), e.get("protocol") or "TCP"),
}
#: Maps whose values are quantities, and fields that are quantities themselves.
_QUANTITY_MAPS = frozenset({"requests", "limits", "capacity", "allocatable"})
_QUANTITY_FIELDS = frozenset({"averageValue", "sizeLimit"})
#: IntOrString fields: "8080" and 8080 are the same value ("5%" stays a string).
_INT_OR_STRING = frozenset({"maxUnavailable", "maxSurge", "minAvailable", "port", "targetPort"})

_QUANTITY = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([eE][+-]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$")
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


class _Missing:
    """A keyed list entry that the live object lacks."""

    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


class Keyed(str):
    """A list entry named by its merge key in a report path: `containers[main]`, `env[DEBUG]`."""


@dataclass(frozen=True)
class Difference:
    """One differing field: `path` in report form, list entries named by their merge key
    (`spec.template.spec.containers[main].image`; atomic lists by index); `desired` is None for
    a live-only field, `live` None when the field is absent. `heal`: an update may repair it
    (False for what is reported only, such as `kubectl rollout restart`'s annotation)."""

    path: str
    desired: Any
    live: Any
    heal: bool = True


def differences(desired: dict[str, Any], live: dict[str, Any],
                ignore: Iterable[str] = ()) -> list[Difference]:
    """The fields set in `desired` whose value differs in `live`, sorted by path. `ignore` holds
    JSON pointers (`/spec/template/metadata/annotations/injected-by`) left out of the comparison."""
    pointers = [_parse_pointer(p) for p in ignore]
    desired_tree, live_tree = _without(desired, pointers), _without(live, pointers)
    wanted, seen = _align(desired_tree, live_tree, "")
    found: dict[str, Difference] = {}
    for prefix, mine, theirs in _changed(_normalise(wanted, ""), _normalise(seen, ""), []):
        if isinstance(mine, (dict, list)) and isinstance(theirs, (dict, list)):
            diff = DeepDiff(mine, theirs, ignore_order=False, threshold_to_diff_deeper=0, verbose_level=2,
                            view="tree")
            paths = [prefix + level.path(output_format="list") for levels in diff.tree.values() for level in levels]
        else:
            paths = [prefix]
        for keys in paths:
            path = report_path(_named(wanted, seen, keys))
            found[path] = Difference(path, _lookup(wanted, keys), _lookup(seen, keys))
    return [found[p] for p in sorted(found)]


_ABSENT = _Missing()


def _changed(mine: Any, theirs: Any, keys: list[Any]) -> Iterator[tuple[list[Any], Any, Any]]:
    """The smallest subtrees, reached through maps and equally long lists, where two normalised
    trees differ: a cheap `==` prunes everything equal, so DeepDiff only sees what changed
    (an object in sync costs one comparison)."""
    if mine == theirs:
        return
    if isinstance(mine, dict) and isinstance(theirs, dict):
        for key in mine.keys() | theirs.keys():
            yield from _changed(mine.get(key, _ABSENT), theirs.get(key, _ABSENT), [*keys, key])
    elif isinstance(mine, list) and isinstance(theirs, list) and len(mine) == len(theirs):
        for index, (one, other) in enumerate(zip(mine, theirs)):
            yield from _changed(one, other, [*keys, index])
    else:
        yield keys, mine, theirs


def merge_key(field: str, entry: Any) -> str | None:
    """How an entry of the list `field` is named in a path (its merge key), None for lists
    compared by position."""
    key_of = _KEYS.get(field)
    if key_of is None or not isinstance(entry, dict):
        return None
    key = key_of(entry)
    if key is None:
        return None
    return "/".join(str(k) for k in key) if isinstance(key, tuple) else str(key)


def _named(wanted: Any, seen: Any, keys: Sequence[Any]) -> list[Any]:
    """`keys` (indices of the aligned lists) with keyed list entries named by their merge key."""
    out: list[Any] = []
    field = ""
    for key in keys:
        if isinstance(key, int) and isinstance(wanted, list):
            entry = wanted[key] if key < len(wanted) else _MISSING
            if entry is _MISSING and isinstance(seen, list) and key < len(seen):
                entry = seen[key]
            name = merge_key(field, entry)
            out.append(Keyed(name) if name is not None else key)
        else:
            out.append(key)
        wanted = _step(wanted, key)
        seen = _step(seen, key)
        field = key if isinstance(key, str) else ""
    return out


def _step(tree: Any, key: Any) -> Any:
    if isinstance(tree, dict):
        return tree.get(key, _MISSING)
    if isinstance(tree, list) and isinstance(key, int) and key < len(tree):
        return tree[key]
    return _MISSING


def report_path(keys: Sequence[Any]) -> str:
    """`['spec', 'containers', Keyed('main'), 'image']` -> `spec.containers[main].image`
    (an int is a position: `args[0]`); keys that are not identifiers are quoted:
    `metadata.labels["example.com/managed"]`."""
    out = ""
    for key in keys:
        if isinstance(key, Keyed):
            out += f"[{key}]"
        elif isinstance(key, int):
            out += f"[{key}]"
        elif _IDENTIFIER.match(str(key)):
            out += f".{key}" if out else str(key)
        else:
            out += f'["{key}"]'
    return out


def _parse_pointer(pointer: str) -> list[str]:
    if pointer in ("", "/"):
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("/").split("/")]


def _without(tree: Any, pointers: list[list[str]]) -> Any:
    """A copy of `tree` without the fields the pointers name (absent ones are no error)."""
    if not pointers:
        return tree
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            rest = [p[1:] for p in pointers if p and p[0] == key]
            if any(not r for r in rest):
                continue
            out[key] = _without(value, rest)
        return out
    if isinstance(tree, list):
        items: list[Any] = []
        for index, value in enumerate(tree):
            rest = [p[1:] for p in pointers if p and p[0] == str(index)]
            if any(not r for r in rest):
                continue
            items.append(_without(value, rest))
        return items
    return tree


def _empty(value: Any) -> bool:
    """Values the API server drops (omitempty): the reconciler setting them is no drift."""
    if value is None or value is False:
        return True
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value == 0
    return isinstance(value, (str, list, dict)) and not value


def _pruned(value: Any) -> Any:
    """`value` without the empty values inside it (what the server would store of it)."""
    if isinstance(value, dict):
        return {k: p for k, v in value.items() if not _empty(p := _pruned(v))}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def _align(desired: Any, live: Any, field: str) -> tuple[Any, Any]:
    """(desired, live) cut down to what desired sets, with keyed list entries of live moved to
    the index of their desired counterpart. A live dict lacking a desired key lacks it here too."""
    if isinstance(desired, dict) and isinstance(live, dict):
        want: dict[str, Any] = {}
        seen: dict[str, Any] = {}
        for key, value in desired.items():
            if key not in live:
                if not _empty(_pruned(value)):
                    want[key] = value
                continue
            if _empty(value) and _empty(live[key]):
                continue
            want[key], seen[key] = _align(value, live[key], key)
        return want, seen
    if isinstance(desired, list) and isinstance(live, list):
        key_of = _KEYS.get(field)
        if key_of is not None and all(isinstance(e, dict) for e in desired + live):
            by_key = {key_of(e): e for e in live}
            pairs = [_align(e, by_key[key_of(e)], "") if key_of(e) in by_key else (e, _MISSING)
                     for e in desired]
        else:  # atomic list: compared by position, extra live entries are drift
            pairs = [_align(d, l, "") for d, l in zip(desired, live)]
            pairs += [(d, _MISSING) for d in desired[len(live):]]
            pairs += [(_MISSING, l) for l in live[len(desired):]]
        return [d for d, _ in pairs], [l for _, l in pairs]
    return desired, live


def _normalise(tree: Any, field: str) -> Any:
    """Comparable form: quantities as exact fractions, int-or-string digits as ints."""
    if isinstance(tree, dict):
        return {k: (_quantity(v) if field in _QUANTITY_MAPS else _normalise(v, k)) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_normalise(v, field) for v in tree]
    if tree is _MISSING:
        return None
    if field in _QUANTITY_FIELDS:
        return _quantity(tree)
    if field in _INT_OR_STRING and isinstance(tree, str) and tree.isdigit():
        return int(tree)
    return tree


def _quantity(value: Any) -> Any:
    """A quantity as a string of its exact value ("1Gi" and "1024Mi" alike), else unchanged."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return value
    match = _QUANTITY.match(str(value).strip())
    if not match:
        return value
    number, suffix = Fraction(match.group(1)), match.group(2) or ""
    if suffix in _BINARY:
        number *= 2 ** _BINARY[suffix]
    elif suffix in _DECIMAL:
        number *= Fraction(10) ** _DECIMAL[suffix]
    else:
        number *= Fraction(10) ** int(suffix[1:])
    return f"quantity:{number}"


def _lookup(tree: Any, keys: Sequence[Any]) -> Any:
    """The original value at `keys`, None where it is absent."""
    for key in keys:
        if isinstance(tree, dict) and key in tree:
            tree = tree[key]
        elif isinstance(tree, list) and isinstance(key, int) and key < len(tree):
            tree = tree[key]
        else:
            return None
    return None if tree is _MISSING else tree
