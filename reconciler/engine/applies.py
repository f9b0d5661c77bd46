"""The first step of a plan: what each desired object needs, paired with its live counterpart (pure).

- An unmanaged live object under a wanted name is a collision: a `wait`, never touched.
- Recreate (a Deployment <-> StatefulSet kind change, or a changed immutable field: selector;
  a StatefulSet's volumeClaimTemplates, serviceName, podManagementPolicy) is a `wait` unless
  `allow_recreate`. With it:
  * a kind change creates the new object and deletes the old one among the deletions at the end
    (create first, delete last), except for downthenup workloads (strategy type Recreate on the
    desired or the old object), whose old object is deleted right before the create;
  * a same-kind immutable change is always delete-then-create (two objects of one kind cannot
    share a name).
  The replaced object is never a prune candidate, and its delete is not subject to prune rules.
- Otherwise: `create` when it is not on the cluster; `update` when its config_sha changed;
  `scale` when only replicas did; `noop` in sync. With `compare`, an object in sync by
  config_sha and replicas whose listed fields differ from the rendering gets an `update` (a
  bounce for workloads) with the fields in the reason, or, with `heal_drift` off, a `noop` that
  says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler.engine.changes import needs_apply
from reconciler.engine.drift import Difference, differences
from reconciler.engine.edits import Edit, hand_edits
from reconciler.engine.redaction import redacted
from reconciler.engine.objects import Key, key_of, plain, spec
from reconciler.engine.actions import Action, Desired
from reconciler.engine.policy import Policy
from reconciler.kinds import WORKLOAD_KINDS

#: Fields Kubernetes will not change in place, by workload kind.
_IMMUTABLE = {
    "Deployment": ("selector",),
    "StatefulSet": ("selector", "volumeClaimTemplates", "serviceName", "podManagementPolicy"),
}
#: At most this many differing fields are kept per object (a report, not a dump).
MAX_DIFFERENCES = 20


@dataclass
class Applies:
    """The actions for the desired objects (in desired order), the deletes of replaced objects
    that wait until their successor exists, and the live objects a recreate accounts for."""

    actions: list[Action] = field(default_factory=list)
    late_deletes: list[Action] = field(default_factory=list)
    replaced: set[Key] = field(default_factory=set)


def _downthenup(*objs: Mapping[str, Any]) -> bool:
    for obj in objs:
        strategy = spec(obj).get("strategy")
        if isinstance(strategy, Mapping) and strategy.get("type") == "Recreate":
            return True
    return False


def immutable_changes(desired: Mapping[str, Any], live: Mapping[str, Any]) -> list[str]:
    """The immutable fields (`spec.selector`, ...) the desired workload sets differently from the
    live one of the same kind. Only what desired sets is compared (the live object carries server
    defaults); the selector is compared both ways, being replaced as a whole. A live object
    listed without its spec shows no change."""
    live_spec = spec(live)
    if not live_spec:
        return []
    changed = []
    for name in _IMMUTABLE.get(str(desired.get("kind")), ()):
        want = spec(desired).get(name)
        if want is None:
            continue
        mine = {name: plain(want)}
        theirs = {name: plain(live_spec[name])} if name in live_spec else {}
        if differences(mine, theirs) or (name == "selector" and differences(theirs, mine)):
            changed.append(f"spec.{name}")
    return changed


def field_differences(desired: Mapping[str, Any], live: Mapping[str, Any], policy: Policy) -> tuple[Difference, ...]:
    """The fields of the rendering that differ in `live`; none when the listing was
    metadata-only (a live object without a spec is not compared). Values are redacted as the
    policy says."""
    if "spec" not in live and desired.get("kind") != "Namespace":
        return ()
    found = differences(plain(desired), plain(live), policy.ignore.get(str(desired.get("kind")), ()))
    return tuple(redacted(d, policy.redact_key) for d in found[:MAX_DIFFERENCES])


def _edits(desired: Mapping[str, Any], live: Mapping[str, Any], policy: Policy) -> tuple[Edit, ...]:
    """Hand edits of `live` (live-only fields of editing managers), differences redacted."""
    if "spec" not in live:
        return ()
    return tuple(Edit(e.manager, e.fields, tuple(redacted(d, policy.redact_key) for d in e.differences))
                 for e in hand_edits(desired, live, policy.edit_managers))


def _describe(found: Sequence[Difference]) -> str:
    shown = ", ".join(f"{d.path} (git {d.desired!r}, live {d.live!r})" for d in found[:3])
    return shown + (f" and {len(found) - 3} more" if len(found) > 3 else "")


def _act(action: str, key: Key, item: Desired, reason: str, live: Mapping[str, Any] | None,
         found: tuple[Difference, ...] = ()) -> Action:
    kind, namespace, name = key
    return Action(action, kind, namespace, name, item.service, item.instance, reason, item.obj, live,
                  differences=found)


def _replaced_by(key: Key, item: Desired, current: Mapping[str, Any] | None, live_by_key: Mapping[Key, Mapping[str, Any]],
                 policy: Policy) -> tuple[Mapping[str, Any] | None, str]:
    """The live workload `item` must replace (a kind change or changed immutable fields), and why."""
    kind, namespace, name = key
    if kind not in WORKLOAD_KINDS:
        return None, ""
    if current is None:
        for other in WORKLOAD_KINDS - {kind}:
            candidate = live_by_key.get((other, namespace, name))
            if candidate is not None and policy.managed(candidate):
                return candidate, f"kind change: a {other} of that name is on the cluster"
        return None, ""
    fields = immutable_changes(item.obj, current)
    return (current, f"immutable fields changed: {', '.join(fields)}") if fields else (None, "")


def _recreate(out: Applies, key: Key, item: Desired, old: Mapping[str, Any], why: str, policy: Policy) -> None:
    kind = key[0]
    old_key = key_of(old)
    out.replaced.add(old_key)
    if not policy.allow_recreate:
        out.actions.append(_act("wait", key, item, f"{why}; the {kind} must be recreated and allow_recreate is off", old))
        return
    delete = Action("delete", old_key[0], old_key[1], old_key[2], item.service, item.instance,
                    f"recreate ({why}): replaced by the new {kind}", None, old)
    if old_key == key or _downthenup(item.obj, old):
        out.actions.append(delete)
        out.actions.append(_act("create", key, item, f"recreate ({why}): the old {old_key[0]} is deleted first", None))
    else:
        out.actions.append(_act("create", key, item, f"recreate ({why}): the old {old_key[0]} is deleted once this "
                                                "one exists", None))
        out.late_deletes.append(delete)


def _change(key: Key, item: Desired, current: Mapping[str, Any], policy: Policy, compare: bool) -> Action:
    """create/update/scale/noop of a managed object that is on the cluster."""
    change = needs_apply(item.obj, current, policy.label_domain)
    # field by field: drift (with `compare`), and what an update git asks for will change
    edits: tuple[Edit, ...] = ()
    found: tuple[Difference, ...] = ()
    if (change is None and compare) or (change is not None and not change.startswith("replicas ")):
        edits = _edits(item.obj, current, policy)
        found = (*field_differences(item.obj, current, policy), *(d for e in edits for d in e.differences))
        found = tuple(sorted(found, key=lambda d: d.path))[:MAX_DIFFERENCES]
    healable = [d for d in found if d.heal]
    if change is None and healable and policy.heal_drift:
        return replace(_act("update", key, item, f"drift: {_describe(found)}", current, found), take_over=edits)
    if change is None and found:
        why = "heal_drift is off" if healable else "reported, never healed"
        return _act("noop", key, item, f"drifted, not healed ({why}): {_describe(found)}", current, found)
    if change is None:
        return _act("noop", key, item, "in sync", current)
    if change.startswith("replicas "):
        return _act("scale", key, item, change, current)
    told = [d for d in found if not d.path.endswith('/config_sha"]')]  # the hash itself says nothing
    if told:  # which fields, and whether the pods restart for it
        change += f": {_describe(told)}"
        if key[0] in WORKLOAD_KINDS and any(d.path.startswith("spec.template") for d in told):
            change += "; pods restart"
    return replace(_act("update", key, item, change, current, found), take_over=edits)


def applies(planned: Mapping[Key, Desired], live_by_key: Mapping[Key, Mapping[str, Any]], policy: Policy, *,
            compare: bool = False) -> Applies:
    """The action of every desired object (see the module docstring)."""
    out = Applies()
    for key, item in planned.items():
        current = live_by_key.get(key)
        if current is not None and not policy.managed(current):
            out.actions.append(_act("wait", key, item, f"collision: an unmanaged {key[0]} of that name exists; "
                                                  "not touched", current))
            continue
        old, why = _replaced_by(key, item, current, live_by_key, policy)
        if old is not None:
            _recreate(out, key, item, old, why, policy)
        elif current is None:
            out.actions.append(_act("create", key, item, "not on the cluster", None))
        else:
            out.actions.append(_change(key, item, current, policy, compare))
    return out
