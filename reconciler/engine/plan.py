"""The plan: what one reconcile cycle would do on one cluster, object by object, and why.

Pure: desired objects (rendered) and live objects (as listed) in, a `Plan` out. No I/O, no
clock. Spec: ../shared/spec/reconciler.md sections 3 and 4, JSON shape in section 7.

Decisions worth knowing:

- Desired and live are paired by (kind, namespace, name). A desired key given twice (the
  Namespace every instance of a service renders) is planned once, from its first occurrence.
- An unmanaged live object under a wanted name is a collision: a `wait`, never touched.
- Recreate (a Deployment <-> StatefulSet kind change, or a changed immutable field: selector;
  a StatefulSet's volumeClaimTemplates, serviceName, podManagementPolicy) is a `wait` unless
  `allow_recreate`. With it:
  * a kind change creates the new object in the workloads group and deletes the old one among
    the deletions at the end (create first, delete last), except for downthenup workloads
    (strategy type Recreate on the desired or the old object), whose old object is deleted
    right before the create;
  * a same-kind immutable change is always delete-then-create (two objects of one kind cannot
    share a name), both in the workloads group.
  The replaced object is never a prune candidate, and its delete is not subject to prune rules.
- Prune candidates: managed live objects with no desired counterpart, except Namespaces and
  objects of protected services / instances. A PDB or HPA of an instance that rendered without
  it (stopped, or no longer autoscaled) is not a prune candidate: it is deleted whatever the
  prune settings, since git says so for an instance it still has. Delete actions of objects without service or
  instance labels carry "" for them.
- Drift (with `drift`): an object in sync by config_sha and replicas whose listed fields differ
  from the rendering gets an `update` (a bounce for workloads) with the fields in the reason,
  or, with `heal_drift` off, a `noop` that says so.
- Order: Namespaces, workloads, PDBs/HPAs (and other kinds), then deletions (HPAs, PDBs,
  workloads, other kinds); stable within a group (desired order, then live listing order).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.engine.changes import needs_apply
from reconciler.engine.drift import Difference, differences
from reconciler.kinds import WORKLOAD_KINDS

ACTIONS = ("create", "update", "scale", "delete", "noop", "wait")

#: Apply order of the non-delete actions, by kind (unknown kinds go with PDB/HPA).
_APPLY_RANK = {"Namespace": 0, "Deployment": 1, "StatefulSet": 1}
_APPLY_DEFAULT_RANK = 2
#: Order of deletions, by kind: dependents before the workloads they point at.
_DELETE_RANK = {"HorizontalPodAutoscaler": 0, "PodDisruptionBudget": 1, "Deployment": 2, "StatefulSet": 2}
_DELETE_DEFAULT_RANK = 3
#: Kinds an instance renders beside its workload; one it no longer renders is deleted with it
#: in git (not a prune): the HPA of a stopped autoscaled instance.
_COMPANIONS = frozenset({"HorizontalPodAutoscaler", "PodDisruptionBudget"})
#: Fields Kubernetes will not change in place, by workload kind.
_IMMUTABLE = {
    "Deployment": ("selector",),
    "StatefulSet": ("selector", "volumeClaimTemplates", "serviceName", "podManagementPolicy"),
}

Key = tuple[str, str | None, str]


@dataclass(frozen=True)
class Desired:
    """A rendered object and the instance it belongs to."""

    obj: Mapping[str, Any]
    service: str
    instance: str


@dataclass(frozen=True)
class Action:
    """One step of a plan. `desired` / `live` are the objects it concerns (not compared)."""

    action: str
    kind: str
    namespace: str | None
    name: str
    service: str
    instance: str
    reason: str
    desired: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    live: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    #: An update that re-applies the last healthy rendering after a failed rollout.
    rollback: bool = False
    #: The fields that differ between the rendering and the live object, when the listing
    #: carried them (drift, and the updates git asks for).
    differences: tuple[Difference, ...] = field(default=(), compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """The action in the plan JSON shape (spec section 7)."""
        return {"action": self.action, "kind": self.kind, "namespace": self.namespace,
                "name": self.name, "service": self.service, "instance": self.instance,
                "reason": self.reason}


@dataclass(frozen=True)
class PruneDecision:
    """How many objects git no longer has, and whether deleting them was refused (and why).
    `orphans`: (kind, namespace, name, service, instance) of each candidate."""

    candidates: int
    refused: bool
    reason: str | None
    orphans: tuple[tuple[str, str | None, str, str, str], ...] = field(default=(), compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {"candidates": self.candidates, "refused": self.refused, "reason": self.reason}


@dataclass(frozen=True)
class Halt:
    """A deploy group's halted train on one cluster: the instance whose rollout failed, the
    config_sha that failed, why, and what it was rolled back to (None: not rolled back)."""

    deploy_group: str
    service: str
    instance: str
    failed_config_sha: str
    reason: str
    rolled_back_to: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"halted": True, "deploy_group": self.deploy_group, "service": self.service,
                "instance": self.instance, "failed_config_sha": self.failed_config_sha,
                "reason": self.reason, "rolled_back_to": self.rolled_back_to}


@dataclass(frozen=True)
class Plan:
    """The actions for one cluster, in apply order, the prune decision and the halted trains."""

    cluster: str
    actions: tuple[Action, ...]
    prune: PruneDecision
    halts: tuple[Halt, ...] = ()

    def summary(self) -> dict[str, int]:
        """Counts of each action name; all six keys are present."""
        counts = dict.fromkeys(ACTIONS, 0)
        for action in self.actions:
            counts[action.action] = counts.get(action.action, 0) + 1
        return counts

    def as_dict(self) -> dict[str, Any]:
        """cluster, actions, summary, prune and halted trains of the plan JSON (the caller adds
        dry_run and requests, which the planner cannot know)."""
        return {"cluster": self.cluster, "actions": [a.as_dict() for a in self.actions],
                "summary": self.summary(), "prune": self.prune.as_dict(),
                "halted_trains": [h.as_dict() for h in self.halts]}


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _labels(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    labels = _meta(obj).get("labels")
    return labels if isinstance(labels, Mapping) else {}


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _key(obj: Mapping[str, Any]) -> Key:
    meta = _meta(obj)
    namespace = meta.get("namespace")
    return (str(obj.get("kind", "")), namespace if isinstance(namespace, str) else None,
            str(meta.get("name", "")))


def _label(obj: Mapping[str, Any], domain: str, name: str) -> str:
    value = _labels(obj).get(f"{domain}/{name}")
    return value if isinstance(value, str) else ""


def _managed(obj: Mapping[str, Any], domain: str) -> bool:
    return _labels(obj).get(f"{domain}/managed") == "true"


def _downthenup(*objs: Mapping[str, Any]) -> bool:
    for obj in objs:
        strategy = _spec(obj).get("strategy")
        if isinstance(strategy, Mapping) and strategy.get("type") == "Recreate":
            return True
    return False


def _plain(value: Any) -> Any:
    """A deep copy as plain dicts and lists (drift.differences takes dicts)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def immutable_changes(desired: Mapping[str, Any], live: Mapping[str, Any]) -> list[str]:
    """The immutable fields (`spec.selector`, ...) the desired workload sets differently from the
    live one of the same kind. Only what desired sets is compared (the live object carries server
    defaults); the selector is compared both ways, being replaced as a whole. A live object
    listed without its spec shows no change."""
    live_spec = _spec(live)
    if not live_spec:
        return []
    changed = []
    for name in _IMMUTABLE.get(str(desired.get("kind")), ()):
        want = _spec(desired).get(name)
        if want is None:
            continue
        mine = {name: _plain(want)}
        theirs = {name: _plain(live_spec[name])} if name in live_spec else {}
        if differences(mine, theirs) or (name == "selector" and differences(theirs, mine)):
            changed.append(f"spec.{name}")
    return changed


#: At most this many differing fields are kept per object (a report, not a dump).
MAX_DIFFERENCES = 20


def _differences(desired: Mapping[str, Any], live: Mapping[str, Any], ignore: Sequence[str]) -> tuple[Difference, ...]:
    """The fields of the rendering that differ in `live`; none when the listing was
    metadata-only (a live object without a spec is not compared)."""
    if "spec" not in live and desired.get("kind") != "Namespace":
        return ()
    return tuple(differences(_plain(desired), _plain(live), ignore)[:MAX_DIFFERENCES])


def _describe(found: Sequence[Difference]) -> str:
    shown = ", ".join(f"{d.path} (git {d.desired!r}, live {d.live!r})" for d in found[:3])
    return shown + (f" and {len(found) - 3} more" if len(found) > 3 else "")


def plan(cluster: str, desired: Sequence[Desired], live: Sequence[Mapping[str, Any]], *,
         label_domain: str, prune: bool = False, max_prune_fraction: float = 0.5,
         sources_ok: bool = True, protected_services: frozenset[str] = frozenset(),
         protected_instances: frozenset[tuple[str, str]] = frozenset(),
         allow_mass_prune: bool = False, allow_recreate: bool = False, drift: bool = False,
         heal_drift: bool = True, ignore: Mapping[str, Sequence[str]] | None = None) -> Plan:
    """The plan for `cluster`: see the module docstring for the rules. With `drift`, objects in
    sync by config_sha and replicas are also compared field by field (`ignore`: JSON pointers
    per kind) when their listing carries them; drift is healed by an `update` unless
    `heal_drift` is off."""
    ignore = ignore or {}
    live_by_key: dict[Key, Mapping[str, Any]] = {}
    for obj in live:
        live_by_key.setdefault(_key(obj), obj)

    planned: dict[Key, Desired] = {}
    for item in desired:
        planned.setdefault(_key(item.obj), item)

    applies: list[tuple[int, Action]] = []
    late_deletes: list[Action] = []       # replaced objects deleted after their successor exists
    replaced: set[Key] = set()            # live objects a recreate accounts for: never pruned

    def act(action: str, item: Desired, reason: str, live_obj: Mapping[str, Any] | None,
            key: Key | None = None, found: tuple[Difference, ...] = ()) -> Action:
        kind, namespace, name = key or _key(item.obj)
        return Action(action, kind, namespace, name, item.service, item.instance, reason,
                      item.obj, live_obj, differences=found)

    for key, item in planned.items():
        kind, namespace, name = key
        rank = _APPLY_RANK.get(kind, _APPLY_DEFAULT_RANK)
        current = live_by_key.get(key)
        old: Mapping[str, Any] | None = None
        why = ""
        if current is not None and not _managed(current, label_domain):
            applies.append((rank, act("wait", item, f"collision: an unmanaged {kind} of that name exists; "
                                                    "not touched", current)))
            continue
        if current is None and kind in WORKLOAD_KINDS:
            for other in WORKLOAD_KINDS - {kind}:
                candidate = live_by_key.get((other, namespace, name))
                if candidate is not None and _managed(candidate, label_domain):
                    old, why = candidate, f"kind change: a {other} of that name is on the cluster"
        elif current is not None and kind in WORKLOAD_KINDS:
            fields = immutable_changes(item.obj, current)
            if fields:
                old, why = current, f"immutable fields changed: {', '.join(fields)}"

        if old is not None:
            old_key = _key(old)
            replaced.add(old_key)
            if not allow_recreate:
                applies.append((rank, act("wait", item, f"{why}; the {kind} must be recreated and "
                                                        "allow_recreate is off", old)))
                continue
            delete = Action("delete", old_key[0], old_key[1], old_key[2], item.service, item.instance,
                            f"recreate ({why}): replaced by the new {kind}", None, old)
            if old_key == key or _downthenup(item.obj, old):
                applies.append((rank, delete))
                applies.append((rank, act("create", item, f"recreate ({why}): the old {old_key[0]} is "
                                                          "deleted first", None)))
            else:
                applies.append((rank, act("create", item, f"recreate ({why}): the old {old_key[0]} is "
                                                          "deleted once this one exists", None)))
                late_deletes.append(delete)
            continue

        if current is None:
            applies.append((rank, act("create", item, "not on the cluster", None)))
            continue
        change = needs_apply(item.obj, current, label_domain)
        # field by field: drift (with `drift`), and what an update git asks for will change
        found = _differences(item.obj, current, ignore.get(kind, ())) if (
            (change is None and drift) or (change is not None and not change.startswith("replicas "))) else ()
        if change is None and found and heal_drift:
            applies.append((rank, act("update", item, f"drift: {_describe(found)}", current, found=found)))
        elif change is None and found:
            applies.append((rank, act("noop", item, f"drifted, not healed (heal_drift is off): {_describe(found)}",
                                      current, found=found)))
        elif change is None:
            applies.append((rank, act("noop", item, "in sync", current)))
        elif change.startswith("replicas "):
            applies.append((rank, act("scale", item, change, current)))
        else:
            applies.append((rank, act("update", item, change, current, found=found)))

    candidates: list[Mapping[str, Any]] = []
    dropped: list[Action] = []            # companions a rendered instance no longer has
    rendered = {(item.service, item.instance) for item in planned.values()}
    for key, obj in live_by_key.items():
        if key in planned or key in replaced or key[0] == "Namespace" or not _managed(obj, label_domain):
            continue
        service, instance = _label(obj, label_domain, "service"), _label(obj, label_domain, "instance")
        if service in protected_services or (service, instance) in protected_instances:
            continue
        if key[0] in _COMPANIONS and (service, instance) in rendered:
            dropped.append(Action("delete", key[0], key[1], key[2], service, instance,
                                  f"the instance no longer has a {key[0]} (stopped, or no longer autoscaled)",
                                  None, obj))
            continue
        candidates.append(obj)

    decision = _prune_decision(candidates, live_by_key.values(), label_domain, prune=prune,
                               max_prune_fraction=max_prune_fraction, sources_ok=sources_ok,
                               allow_mass_prune=allow_mass_prune)
    decision = dataclasses.replace(decision, orphans=tuple(
        (*_key(obj), _label(obj, label_domain, "service"), _label(obj, label_domain, "instance"))
        for obj in candidates))
    deletes = late_deletes + dropped
    if candidates and not decision.refused:
        for obj in candidates:
            kind, namespace, name = _key(obj)
            deletes.append(Action("delete", kind, namespace, name, _label(obj, label_domain, "service"),
                                  _label(obj, label_domain, "instance"), "no longer in git", None, obj))

    ordered = [a for _, a in sorted(applies, key=lambda pair: pair[0])]
    ordered += sorted(deletes, key=lambda a: _DELETE_RANK.get(a.kind, _DELETE_DEFAULT_RANK))
    return Plan(cluster, tuple(ordered), decision)


def _prune_decision(candidates: Sequence[Mapping[str, Any]], live: Iterable[Mapping[str, Any]], label_domain: str, *,
                    prune: bool, max_prune_fraction: float, sources_ok: bool,
                    allow_mass_prune: bool) -> PruneDecision:
    count = len(candidates)
    if count == 0:
        return PruneDecision(0, False, None)
    if not prune:
        return PruneDecision(count, True, "prune is off")
    if not sources_ok:
        return PruneDecision(count, True, "the sources could not be read")
    doomed = sum(1 for obj in candidates if obj.get("kind") in WORKLOAD_KINDS)
    total = sum(1 for obj in live if obj.get("kind") in WORKLOAD_KINDS and _managed(obj, label_domain))
    if doomed and not allow_mass_prune and doomed > max_prune_fraction * total:
        return PruneDecision(count, True, f"would delete {doomed} of {total} managed workloads "
                                          f"({doomed * 100 / total:.0f}%), over max_prune_fraction "
                                          f"{max_prune_fraction:g}")
    return PruneDecision(count, False, None)
