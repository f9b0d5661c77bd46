"""Edits made by hand: live-only fields an editing tool wrote, and taking them over to heal (pure).

A field the rendering does not set is drift when a manager named in `drift.edit_managers`
(`kubectl`, `kubectl-*`, `before-first-apply`, `Mozilla`: fnmatch patterns) owns it: `kubectl set
env deploy/x DEBUG=1` adds `env[DEBUG]` under manager `kubectl-set`; an extra volume or
container added by hand, an annotation added with `kubectl annotate`. Fields other managers own
(the HPA's replicas, admission webhooks' injections, the controllers' status) are not edits.

Server-side apply removes only fields the applying manager owned, so healing an edit first moves
its fields in `metadata.managedFields` from the editor's entry to the reconciler's Apply entry
(`take_over`); the apply that follows, which does not set them, then removes them.
`kubectl.kubernetes.io/restartedAt` (`kubectl rollout restart`) is reported, never taken over.
"""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.engine.drift import Difference, Keyed, report_path
from reconciler.engine.owned import ByKey, parse_item, project, subtract, union

DEFAULT_EDIT_MANAGERS = ("kubectl", "kubectl-*", "before-first-apply", "Mozilla")
#: Annotations reported as drift but never healed (a person's rollout restart).
REPORTED_ONLY = frozenset({"kubectl.kubernetes.io/restartedAt"})
_ABSENT = object()


@dataclass(frozen=True)
class Edit:
    """What one editing manager owns that the rendering does not set: the FieldsV1 tree a heal
    takes over, and the differences to report (desired None, live the value)."""

    manager: str
    fields: Mapping[str, Any]
    differences: tuple[Difference, ...]


def is_editor(manager: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(manager, p) for p in patterns)


def hand_edits(desired: Mapping[str, Any], live: Mapping[str, Any],
               managers: Sequence[str] = DEFAULT_EDIT_MANAGERS) -> list[Edit]:
    """The live-only fields of `live` that editing managers own (see the module docstring)."""
    entries = (live.get("metadata") or {}).get("managedFields")
    out = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, Mapping) or entry.get("subresource") or entry.get("fieldsType", "FieldsV1") != "FieldsV1":
            continue
        manager = str(entry.get("manager", ""))
        tree = entry.get("fieldsV1")
        if not is_editor(manager, managers) or not isinstance(tree, Mapping):
            continue
        found: list[tuple[list[Any], list[str], Any, Any]] = []
        try:
            _walk(tree, desired, live, [], [], found)
        except ValueError:
            continue  # a malformed entry: nothing can be said about it
        if not found:
            continue
        taken: dict[str, Any] = {}
        differences = []
        for keys, elements, sub, value in found:
            heal = not (keys and keys[-1] in REPORTED_ONLY)
            differences.append(Difference(report_path(keys), None, value, heal))
            if heal:
                taken = union(taken, _rooted(elements, sub))
        out.append(Edit(manager, taken, tuple(differences)))
    return out


def _rooted(elements: Sequence[str], sub: Mapping[str, Any]) -> dict[str, Any]:
    tree: dict[str, Any] = dict(sub)
    for element in reversed(elements):
        tree = {element: tree}
    return tree


def _walk(tree: Mapping[str, Any], desired: Any, live: Any, keys: list[Any], elements: list[str],
          found: list[tuple[list[Any], list[str], Any, Any]]) -> None:
    """Collect (path keys, FieldsV1 elements, subtree, live value) of what `tree` owns below
    this node that `desired` does not set."""
    for element, sub in tree.items():
        if element == "." or not isinstance(sub, Mapping):
            continue
        if element.startswith("f:"):
            name = element[2:]
            mine = desired.get(name, _ABSENT) if isinstance(desired, Mapping) else _ABSENT
            theirs = live.get(name, _ABSENT) if isinstance(live, Mapping) else _ABSENT
            if theirs is _ABSENT:
                continue
            if mine is _ABSENT and not any(e.startswith(("f:", "k:")) for e in sub):
                found.append(([*keys, name], [*elements, element], sub, project(theirs, sub) if sub else theirs))
            elif sub:  # a map or struct: say which of its fields (only those the editor owns)
                _walk(sub, _ABSENT if mine is _ABSENT else mine, theirs, [*keys, name], [*elements, element], found)
            continue
        matcher = parse_item(element, report_path(keys))
        if not isinstance(matcher, ByKey) or not isinstance(live, list):
            continue  # set and positional items belong to lists compared as values
        theirs = next((e for i, e in enumerate(live) if matcher(i, e)), _ABSENT)
        if theirs is _ABSENT:
            continue
        mine = next((e for i, e in enumerate(desired) if matcher(i, e)), _ABSENT) if isinstance(desired, list) \
            else _ABSENT
        label = Keyed("/".join(str(v) for v in matcher.key.values()))
        if mine is _ABSENT:
            found.append(([*keys, label], [*elements, element], sub, copy.deepcopy(theirs)))
        else:
            _walk(sub, mine, theirs, [*keys, label], [*elements, element], found)


def take_over(managed_fields: Sequence[Mapping[str, Any]], edits: Sequence[Edit], *, manager: str,
              api_version: str) -> list[dict[str, Any]]:
    """`managed_fields` with each edit's fields moved from its manager to `manager`'s Apply entry
    (created when missing); entries left with nothing are dropped."""
    taken: dict[str, dict[str, Any]] = {}
    for edit in edits:
        if edit.fields:
            taken[edit.manager] = union(taken.get(edit.manager, {}), edit.fields)
    if not taken:
        return [dict(e) for e in managed_fields]
    moved: dict[str, Any] = {}
    for tree in taken.values():
        moved = union(moved, tree)
    out: list[dict[str, Any]] = []
    mine: dict[str, Any] | None = None
    for raw in managed_fields:
        entry = copy.deepcopy(dict(raw))
        name = entry.get("manager")
        if name in taken and not entry.get("subresource"):
            rest = subtract(entry.get("fieldsV1") or {}, taken[str(name)])
            if not rest:
                continue
            entry["fieldsV1"] = rest
        if name == manager and entry.get("operation") == "Apply" and not entry.get("subresource"):
            mine = entry
        out.append(entry)
    if mine is None:
        out.insert(0, {"manager": manager, "operation": "Apply", "apiVersion": api_version,
                       "fieldsType": "FieldsV1", "fieldsV1": moved})
    else:
        mine["fieldsV1"] = union(mine.get("fieldsV1") or {}, moved)
    return out
