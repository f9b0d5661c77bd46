"""Server-side apply of one object (pure): merge, conflicts, removal of fields the manager no
longer sets, ownership bookkeeping, defaulting, validation. The backend stores the result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.cluster.errors import Conflict, Invalid, from_status
from reconciler.cluster.sim import defaults, fieldsets, managed, schema, validation
from reconciler.cluster.sim.fieldsets import MISSING, Path
from reconciler.cluster.sim.managed import Entry
from reconciler.cluster.sim.merge import clone, merge
from reconciler.kinds import kind_of

Obj = dict[str, Any]

#: Set by the server, never taken from an applied configuration.
SERVER_META = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink",
               "deletionTimestamp", "deletionGracePeriodSeconds")
#: Fields an apply touches that the server does not record as owned.
UNRECORDED: frozenset[Path] = frozenset({("f:apiVersion",), ("f:kind",), ("f:metadata", "f:name"),
                                         ("f:metadata", "f:namespace")})
KINDS_WITHOUT_GENERATION = ("Namespace", "ControllerRevision", "Lease")


@dataclass(frozen=True)
class Applied:
    obj: Obj
    changed: bool
    created: bool


def _config(config: Obj, live: Obj | None) -> Obj:
    out: Obj = clone(config)
    out.pop("status", None)
    meta = out.setdefault("metadata", {})
    if meta.get("managedFields"):
        raise Invalid("metadata.managedFields must be nil", status=400, reason="BadRequest")
    wanted_rv = meta.get("resourceVersion")
    if wanted_rv and live is not None and live["metadata"].get("resourceVersion") != wanted_rv:
        raise Conflict(f'Operation cannot be fulfilled on {_qualified(config)} "{meta.get("name")}": the object '
                       "has been modified; please apply your changes to the latest version and try again",
                       reason="Conflict")
    for key in SERVER_META:
        meta.pop(key, None)
    return out


def _qualified(obj: Obj) -> str:
    kind = kind_of(obj["kind"])
    return kind.plural + (f".{kind.group}" if kind.group else "")


def _undeclared(value: Any, node: schema.Node | None, prefix: str) -> str | None:
    """The first field the schema does not declare (the server refuses those in an apply)."""
    if node is None or not isinstance(value, dict) or node.kind != "struct" or node.atomic:
        return None
    for name, sub in value.items():
        child = schema.child(node, name)
        if child is None:
            return f"{prefix}.{name}"
        if child.kind == "struct":
            found = _undeclared(sub, child, f"{prefix}.{name}")
        elif child.kind == "list" and child.elem is not None and isinstance(sub, list):
            found = next((f for f in (_undeclared(i, child.elem, f"{prefix}.{name}") for i in sub) if f), None)
        elif child.kind == "map" and child.elem is not None and isinstance(sub, dict):
            found = next((f for f in (_undeclared(v, child.elem, f"{prefix}.{name}.{k}")
                                      for k, v in sub.items()) if f), None)
        else:
            found = None
        if found:
            return found
    return None


def _conflict_error(conflicts: list[tuple[Entry, Path]]) -> Conflict:
    if len(conflicts) == 1:
        entry, path = conflicts[0]
        text = f"conflict with {entry.display()}: {fieldsets.describe(path)}"
        return Conflict(f"Apply failed with 1 conflict: {text}", reason="Conflict")
    by_manager: dict[str, list[str]] = {}
    for entry, path in conflicts:
        by_manager.setdefault(entry.display(), []).append(fieldsets.describe(path))
    lines = []
    for display in sorted(by_manager):
        lines.append(f"conflicts with {display}:")
        lines.extend(f"- {p}" for p in by_manager[display])
    return Conflict(f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines), reason="Conflict")


def _changed(before: Obj, after: Obj, path: Path, node: schema.Node) -> bool:
    """Whether the apply modifies or adds the field at `path` (a list item only when added)."""
    old = fieldsets.lookup(before, path, node)
    if path[-1][:2] in ("k:", "v:"):
        return old is MISSING
    return bool(old != fieldsets.lookup(after, path, node))


def _without_managed(obj: Obj) -> Obj:
    out = dict(obj)
    out["metadata"] = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
    return out


def apply(live: Obj | None, config: Obj, manager: str, force: bool, now: str) -> Applied:
    """The object after `manager` applies `config` onto `live` (None: it does not exist yet).
    Raises Conflict (409) and Invalid (422/400). uid, resourceVersion and creationTimestamp of a
    new object are left for the caller to fill."""
    kind = config["kind"]
    node = schema.root(kind)
    cfg = _config(config, live)
    undeclared = _undeclared(cfg, node, "")
    if undeclared:
        raise from_status(500, f"failed to create typed patch object ({cfg['metadata'].get('namespace', '')}/"
                               f"{cfg['metadata'].get('name', '')}; {config.get('apiVersion')}, Kind={kind}): "
                               f"{undeclared}: field not declared in schema", "InternalError")
    applied_full = fieldsets.config_set(cfg, node)
    applied = frozenset(applied_full - UNRECORDED)
    api_version = config.get("apiVersion", kind_of(kind).api_version)
    mine = Entry(manager, "Apply", api_version, applied, now)

    if live is None:
        merged = merge({}, cfg, node)
        entries = [mine]
        self_before: Entry | None = None
    else:
        base = _without_managed(live)
        merged = merge(base, cfg, node)
        entries = managed.parse(live["metadata"])
        self_before = next((e for e in entries if e.same_owner(mine)), None)
        others = [e for e in entries if not e.same_owner(mine)]
        contested = applied & frozenset().union(*(e.fields for e in others))
        changed = [p for p in sorted(contested) if _changed(base, merged, p, node)]
        conflicts = [(e, p) for e in sorted(others, key=lambda e: e.manager) for p in changed if p in e.fields]
        if conflicts and not force:
            raise _conflict_error(conflicts)
        lost = {p for _, p in conflicts}
        others = [e.with_fields(frozenset(e.fields - lost)) for e in others]
        dropped = (self_before.fields - applied) if self_before else frozenset()
        keep = fieldsets.ensure_named(applied_full.union(*(e.fields for e in others)), node) if dropped else set()
        last = fieldsets.ensure_named(self_before.fields, node) if self_before and dropped else set()
        removed: list[Path] = []
        for path in sorted(last - keep, key=len):
            if not any(path[:len(r)] == r for r in removed):
                fieldsets.remove(merged, path, node)
                removed.append(path)
        entries = others + [mine]

    obj = _finish(kind, merged, live)
    validation.validate(obj, live)
    if live is not None:
        before = {(e.manager, e.operation, e.subresource): e.fields for e in managed.parse(live["metadata"])}
        after = {(e.manager, e.operation, e.subresource): e.fields for e in entries if e.fields}
        if _without_managed(obj) == _without_managed(live) and before == after:
            return Applied(live, changed=False, created=False)
        if _without_managed(obj) == _without_managed(live):
            # Only ownership changed: the server keeps the manager's old timestamp (none if new).
            kept = Entry(manager, "Apply", api_version, applied, self_before.time if self_before else None)
            entries = [e if not e.same_owner(mine) else kept for e in entries]
    obj["metadata"]["managedFields"] = managed.encode(entries)
    return Applied(obj, changed=True, created=live is None)


def _finish(kind: str, merged: Obj, live: Obj | None) -> Obj:
    """Strategy (PrepareForCreate/Update) and defaulting, then generation."""
    obj = clone(merged)
    meta = obj["metadata"]
    if live is None:
        if kind != "Namespace":
            obj["status"] = {}
        else:
            spec = obj.setdefault("spec", {})
            finalizers = spec.get("finalizers") or []
            spec["finalizers"] = finalizers if "kubernetes" in finalizers else finalizers + ["kubernetes"]
            obj["status"] = {"phase": "Active"}
    else:
        for key in ("uid", "creationTimestamp", "resourceVersion", "generation"):
            if key in live["metadata"]:
                meta[key] = live["metadata"][key]
        if "status" in live:
            obj["status"] = clone(live["status"])
        if kind == "Namespace":
            obj.setdefault("spec", {})["finalizers"] = (live.get("spec") or {}).get("finalizers")
    obj = defaults.stored_form(obj)
    if live is not None and "status" in live:
        obj["status"] = live["status"]  # written by controllers; an apply never changes it
    if kind not in KINDS_WITHOUT_GENERATION:
        if live is None:
            obj["metadata"]["generation"] = 1
        elif obj.get("spec") != live.get("spec") or (
                kind == "Deployment" and obj["metadata"].get("annotations") != live["metadata"].get("annotations")):
            obj["metadata"]["generation"] = int(live["metadata"].get("generation") or 0) + 1
    return obj
