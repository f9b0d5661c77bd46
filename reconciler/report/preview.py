"""The preview of a config change: two renderings of the same clusters (a PR's base and head)
compared instance by instance, as `reconciler diff` prints it (reconciler.md section 7,
"Previewing a config pull request"). Pure: renderings and cluster settings in, a Preview out.

Per instance, the change is the one that matters most to the owner:
- `invalid`: the head does not render it (its errors are in `validation.new`);
- `create` / `delete`: only the head / only the base renders it (a delete says whether the
  prune guards of that cluster would let it through);
- `bounce`: the pod template of its workload changed (every pod restarts, in the budget wave of
  the cluster's `max_concurrent_bounces` its turn falls in);
- `scale`: only its replicas changed;
- `update`: only companions (PDB, HPA, ServiceAccount) changed, no pod restarts.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import yaml

from reconciler.config import ClusterConfig
from reconciler.engine.actions import Action, Plan
from reconciler.kinds import WORKLOAD_KINDS
from reconciler.render.service import Outcome, RenderResult
from reconciler.soa.issues import Issue

Ident = tuple[str, str, str]  # cluster, service, instance
ObjectKey = tuple[str, str | None, str]
#: Metadata that changes with every rendering change and says nothing of its own.
_NOISE_LABEL = "/config_sha"


@dataclass(frozen=True)
class ObjectDiff:
    kind: str
    namespace: str | None
    name: str
    diff: str

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "namespace": self.namespace, "name": self.name, "diff": self.diff}


@dataclass(frozen=True)
class InstanceChange:
    cluster: str
    service: str
    instance: str
    change: str
    pods: int = 0
    waves: int = 0
    prune_allowed: bool | None = None
    objects: tuple[ObjectDiff, ...] = ()
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "service": self.service, "instance": self.instance, "change": self.change,
                "pods": self.pods, "waves": self.waves, "prune_allowed": self.prune_allowed,
                "objects": [o.as_dict() for o in self.objects], "note": self.note}


@dataclass(frozen=True)
class Preview:
    base: str
    head: str
    instances: tuple[InstanceChange, ...]
    new_issues: tuple[Issue, ...] = ()
    fixed_issues: tuple[Issue, ...] = ()

    @property
    def new_errors(self) -> int:
        return sum(i.is_error for i in self.new_issues)

    def summary(self) -> dict[str, int]:
        count = {c: sum(i.change == c for i in self.instances) for c in ("bounce", "scale", "create", "delete",
                                                                         "update", "invalid")}
        return {"services": len({i.service for i in self.instances}), "instances": len(self.instances),
                "bounce": count["bounce"], "pods_restarted": sum(i.pods for i in self.instances if i.change == "bounce"),
                "scale": count["scale"], "create": count["create"], "delete": count["delete"],
                "update": count["update"], "invalid": count["invalid"], "new_errors": self.new_errors}

    def summary_line(self) -> str:
        s = self.summary()
        return (f"{s['services']} services, {s['instances']} instances: {s['bounce']} bounce "
                f"({s['pods_restarted']} pods), {s['scale']} scale, {s['create']} create, {s['delete']} delete, "
                f"{s['update']} update, {s['new_errors']} new error{'s' if s['new_errors'] != 1 else ''}")

    def as_dict(self) -> dict[str, Any]:
        return {"base": self.base, "head": self.head, "summary": self.summary(),
                "instances": [i.as_dict() for i in self.instances],
                "validation": {"new": [_issue(i) for i in self.new_issues],
                               "fixed": [_issue(i) for i in self.fixed_issues]}}


def _issue(issue: Issue) -> dict[str, Any]:
    return {"severity": issue.severity.value, "file": issue.file, "line": None, "service": issue.service,
            "instance": issue.instance, "cluster": issue.cluster, "key": issue.key, "message": issue.message}


# ---------------------------------------------------------------------------- comparing objects

def changed_only(a: Any, b: Any) -> tuple[Any, Any]:
    """`a` and `b` cut down to the fields where they differ (mappings recursively; a list that
    differs is kept whole)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        left, right = {}, {}
        for key in sorted(set(a) | set(b), key=str):
            if key in a and key in b:
                if a[key] != b[key]:
                    left[key], right[key] = changed_only(a[key], b[key])
            elif key in a:
                left[key] = a[key]
            else:
                right[key] = b[key]
        return left, right
    return a, b


def _without_noise(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The object without its config_sha labels (they change with any change)."""
    out = dict(obj)
    meta = dict(out.get("metadata") or {})
    meta["labels"] = {k: v for k, v in (meta.get("labels") or {}).items() if not k.endswith(_NOISE_LABEL)}
    out["metadata"] = meta
    spec = out.get("spec")
    if isinstance(spec, Mapping) and isinstance(spec.get("template"), Mapping):
        template = dict(spec["template"])
        tmeta = dict(template.get("metadata") or {})
        tmeta["labels"] = {k: v for k, v in (tmeta.get("labels") or {}).items() if not k.endswith(_NOISE_LABEL)}
        template["metadata"] = tmeta
        out["spec"] = {**spec, "template": template}
    return out


def unified(base: Mapping[str, Any] | None, head: Mapping[str, Any] | None, label: str) -> str:
    """The unified diff of the two objects' YAML, limited to the fields that differ."""
    a, b = changed_only(_without_noise(base) if base else {}, _without_noise(head) if head else {})
    left = yaml.safe_dump(a, sort_keys=True, default_flow_style=False).splitlines() if a else []
    right = yaml.safe_dump(b, sort_keys=True, default_flow_style=False).splitlines() if b else []
    return "\n".join(difflib.unified_diff(left, right, f"base/{label}", f"head/{label}", lineterm="", n=2))


def _key(obj: Mapping[str, Any]) -> ObjectKey:
    meta = obj.get("metadata") or {}
    return str(obj.get("kind")), meta.get("namespace"), str(meta.get("name"))


def _objects(result: RenderResult | None) -> dict[ObjectKey, Mapping[str, Any]]:
    if result is None or result.outcome is not Outcome.RENDERED:
        return {}
    return {_key(o): o for o in result.objects if o.get("kind") != "Namespace"}


def _workload(objects: Mapping[ObjectKey, Mapping[str, Any]]) -> Mapping[str, Any] | None:
    return next((o for k, o in objects.items() if k[0] in WORKLOAD_KINDS), None)


def _replicas(workload: Mapping[str, Any] | None) -> int:
    return int(((workload or {}).get("spec") or {}).get("replicas") or 0) if workload else 0


# ---------------------------------------------------------------------------- the preview

def preview(base: Iterable[RenderResult], head: Iterable[RenderResult], *, base_issues: Sequence[Issue] = (),
            head_issues: Sequence[Issue] = (), settings_for: Callable[[str], ClusterConfig],
            base_name: str = "base", head_name: str = "head") -> Preview:
    """Compare two renderings of the same clusters (results of `render.tree.render_tree`)."""
    before = {(r.cluster, r.service, r.instance or "*"): r for r in base}
    after = {(r.cluster, r.service, r.instance or "*"): r for r in head}
    changes: list[InstanceChange] = []
    for ident in sorted(set(before) | set(after)):
        change = _instance_change(ident, before.get(ident), after.get(ident))
        if change is not None:
            changes.append(change)
    changes = _with_waves_and_prunes(changes, before, settings_for)
    all_base = {*base_issues, *(i for r in before.values() for i in r.issues)}
    all_head = {*head_issues, *(i for r in after.values() for i in r.issues)}
    new = tuple(sorted(all_head - all_base, key=_order))
    fixed = tuple(sorted(all_base - all_head, key=_order))
    return Preview(base_name, head_name, tuple(changes), new, fixed)


def _order(issue: Issue) -> tuple[str, ...]:
    return (issue.file, issue.service or "", issue.instance or "", issue.key or "", issue.message)


def _instance_change(ident: Ident, base: RenderResult | None, head: RenderResult | None) -> InstanceChange | None:
    cluster, service, instance = ident
    if head is not None and head.outcome is Outcome.INVALID:
        if base is not None and base.outcome is Outcome.INVALID:
            return None
        return InstanceChange(cluster, service, instance, "invalid",
                              note="; ".join(i.message for i in head.issues if i.is_error)[:300])
    old, new = _objects(base), _objects(head)
    if old == new:
        return None
    diffs = tuple(ObjectDiff(k[0], k[1], k[2], unified(old.get(k), new.get(k), f"{k[0]}/{k[2]}"))
                  for k in sorted(set(old) | set(new), key=lambda k: (k[0], k[1] or "", k[2]))
                  if old.get(k) != new.get(k))
    before_work, after_work = _workload(old), _workload(new)
    if before_work is None and after_work is not None:
        return InstanceChange(cluster, service, instance, "create", pods=_replicas(after_work), objects=diffs)
    if after_work is None:
        note = "" if head is None else f"head: {head.outcome.value}"
        return InstanceChange(cluster, service, instance, "delete", pods=_replicas(before_work), objects=diffs,
                              note=note)
    assert before_work is not None
    template_changed = (_without_noise(before_work).get("spec") or {}).get("template") != \
        (_without_noise(after_work).get("spec") or {}).get("template") or before_work.get("kind") != after_work.get("kind")
    if template_changed:
        return InstanceChange(cluster, service, instance, "bounce", pods=_replicas(after_work), objects=diffs)
    if _replicas(before_work) != _replicas(after_work):
        return InstanceChange(cluster, service, instance, "scale", pods=abs(_replicas(after_work) - _replicas(before_work)),
                              objects=diffs, note=f"replicas {_replicas(before_work)} -> {_replicas(after_work)}")
    return InstanceChange(cluster, service, instance, "update", objects=diffs)


def _with_waves_and_prunes(changes: list[InstanceChange], before: Mapping[Ident, RenderResult],
                           settings_for: Callable[[str], ClusterConfig], *,
                           keep_prunes: bool = False) -> list[InstanceChange]:
    """Bounces numbered into the waves of each cluster's `max_concurrent_bounces`; deletes told
    whether `prune` and `max_prune_fraction` (of the base's workloads) let them through."""
    out: list[InstanceChange] = []
    bounces: dict[str, int] = {}
    deletes = {c: sum(1 for x in changes if x.cluster == c and x.change == "delete") for c in {x.cluster for x in changes}}
    for change in changes:
        settings = settings_for(change.cluster)
        if change.change == "bounce":
            bounces[change.cluster] = bounces.get(change.cluster, 0) + 1
            wave = math.ceil(bounces[change.cluster] / max(1, settings.rollout.max_concurrent_bounces))
            change = replace(change, waves=wave)
        elif change.change == "delete" and not keep_prunes:  # (live: the plan's own prune decision)
            workloads = sum(1 for (cluster, _, _), r in before.items()
                            if cluster == change.cluster and r.outcome is Outcome.RENDERED)
            allowed = settings.prune and deletes[change.cluster] <= settings.max_prune_fraction * max(1, workloads)
            change = replace(change, prune_allowed=bool(allowed))
        out.append(change)
    return out


# ---------------------------------------------------------------------------- against the clusters

def _difference_text(differences: Sequence[Any]) -> str:
    lines = []
    for d in differences:
        lines.append(f"- {d.path}: {json.dumps(d.live, sort_keys=True, default=str)}")
        lines.append(f"+ {d.path}: {json.dumps(d.desired, sort_keys=True, default=str)}")
    return "\n".join(lines)


def preview_live(results: Iterable[RenderResult], plans: Mapping[str, Plan], *,
                 settings_for: Callable[[str], ClusterConfig], head_issues: Sequence[Issue] = (),
                 head_name: str = "head") -> Preview:
    """What applying the head would do to each cluster now (`diff --live`), from the plans of a
    read-only cycle: the same per-instance changes, the base being what the clusters run."""
    by_instance: dict[Ident, list[Action]] = {}
    for cluster, plan in plans.items():
        for action in plan.actions:
            if action.action != "noop" and action.kind != "Namespace":
                by_instance.setdefault((cluster, action.service, action.instance or ""), []).append(action)
    changes: list[InstanceChange] = []
    rendered = {(r.cluster, r.service, r.instance or "*"): r for r in results}
    for ident, result in sorted(rendered.items()):
        if result.outcome is Outcome.INVALID and ident[0] in plans:
            changes.append(InstanceChange(*ident, "invalid",
                                          note="; ".join(i.message for i in result.issues if i.is_error)[:300]))
    for ident in sorted(by_instance):
        actions = by_instance[ident]
        work = next((a for a in actions if a.kind in WORKLOAD_KINDS), None)
        objects = tuple(ObjectDiff(a.kind, a.namespace, a.name,
                                   unified(None, a.desired, f"{a.kind}/{a.name}") if a.action == "create"
                                   else _difference_text(a.differences) or a.reason)
                        for a in actions)
        pods = _replicas(work.desired if work and work.desired else (work.live if work else None))
        if work is None:
            change = "update"
        elif work.action == "create":
            change = "create"
        elif work.action == "delete":
            change = "delete"
        elif work.action == "scale":
            change = "scale"
        else:  # an update (or one a budget holds back: wait) of the workload rolls its pods
            change = "bounce"
        prune = plans[ident[0]].prune
        changes.append(InstanceChange(*ident, change, pods=pods, objects=objects,
                                      prune_allowed=(not prune.refused) if change == "delete" else None,
                                      note=prune.reason or "" if change == "delete" else work.reason if work else ""))
    changes = _with_waves_and_prunes(sorted(changes, key=lambda c: (c.cluster, c.service, c.instance)), {},
                                     settings_for, keep_prunes=True)
    errors = tuple(sorted({*head_issues, *(i for r in rendered.values() for i in r.issues)}, key=_order))
    return Preview("live", head_name, tuple(changes), tuple(i for i in errors if i.is_error), ())
