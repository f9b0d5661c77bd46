"""The plan: what one reconcile cycle would do on one cluster, object by object, and why.

Pure: what git wants (`Wanted`) and live objects (as listed) in, a `Plan` out. No I/O, no clock.
Spec: ../shared/spec/reconciler.md sections 3 and 4, JSON shape in section 7.

Small steps, each with the cluster's `Policy`:

1. pair desired and live objects by (kind, namespace, name); a desired key given twice (the
   Namespace every instance of a service renders) is planned once, from its first occurrence;
2. `applies.applies`: the action of each desired object (collisions, recreates, create, update,
   scale, drift, noop);
3. `prune.prune`: what git no longer has, and whether deleting it is allowed;
4. `order.ordered`: Namespaces, workloads, PDBs/HPAs, then deletions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.engine.actions import Desired, Plan, Wanted
from reconciler.engine.applies import applies
from reconciler.engine.objects import Key, key_of
from reconciler.engine.order import ordered
from reconciler.engine.policy import Policy
from reconciler.engine.prune import prune


def pair(desired: Sequence[Desired], live: Sequence[Mapping[str, Any]]) -> tuple[dict[Key, Desired],
                                                                               dict[Key, Mapping[str, Any]]]:
    """Desired and live objects by key, the first occurrence of a key winning on each side."""
    planned: dict[Key, Desired] = {}
    for item in desired:
        planned.setdefault(key_of(item.obj), item)
    live_by_key: dict[Key, Mapping[str, Any]] = {}
    for obj in live:
        live_by_key.setdefault(key_of(obj), obj)
    return planned, live_by_key


def plan(wanted: Wanted, live: Sequence[Mapping[str, Any]], policy: Policy, *,
         compare: bool = False, sources_ok: bool = True, recent: Mapping[str, int] | None = None) -> Plan:
    """The plan for `policy.cluster`. With `compare`, objects in sync by config_sha and replicas are also
    compared field by field when their listing carries them (drift). Without `sources_ok` (git
    could not be read: `wanted` is the last good state) nothing is pruned. `recent`: prune
    deletions per kind group within the prune window (see `prune`)."""
    planned, live_by_key = pair(wanted.objects, live)
    first = applies(planned, live_by_key, policy, compare=compare)
    pruning = prune(live_by_key, planned, first.replaced, wanted, policy, sources_ok=sources_ok, recent=recent)
    return Plan(policy.cluster, ordered(first.actions, [*first.late_deletes, *pruning.deletes]), pruning.decision)
