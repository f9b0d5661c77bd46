"""What git no longer has: prune candidates, dropped companions, and the prune guards (pure).

- Prune candidates: managed live objects with no desired counterpart, except Namespaces, the
  objects a recreate replaces, and objects of protected services / instances.
- A PDB or HPA of an instance that rendered without it (stopped, or no longer autoscaled) is not
  a prune candidate: it is deleted whatever the prune settings, since git says so for an instance
  it still has.
- Candidates are deleted only when `prune` is on, the sources were read, and (unless
  `allow_mass_prune`) no kind group would lose more than `max_prune_fraction` of it, counted
  over the prune window: (deleted in the window + to delete now) / (managed now + deleted in the
  window), per group (workloads; Services; CronJobs; other owned objects). PDBs and HPAs follow
  their workload and count in no group. So a mass deletion split over several commits is refused
  like one made at once. Otherwise the decision says why, and no delete action is planned.
- Delete actions of objects without service or instance labels carry "" for them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.engine.actions import Action, Desired, GroupCount, PruneDecision, Wanted
from reconciler.engine.objects import Key, key_of
from reconciler.engine.policy import Policy

#: Kinds an instance renders beside its workload; one it no longer renders is deleted with it
#: in git (not a prune): the HPA of a stopped autoscaled instance.
_COMPANIONS = frozenset({"HorizontalPodAutoscaler", "PodDisruptionBudget"})
#: The kind groups of the prune fraction; any other kind (companions aside) is "other".
_GROUPS = {"Deployment": "workloads", "StatefulSet": "workloads", "Service": "services", "CronJob": "cronjobs"}
OTHER = "other"
_NAMES = {"workloads": "managed workloads", "services": "managed Services", "cronjobs": "managed CronJobs",
          OTHER: "other managed objects"}


def kind_group(kind: str) -> str:
    """The prune group of `kind`; "" for companions (PDB, HPA) and Namespaces, which count in none."""
    if kind in _COMPANIONS or kind == "Namespace":
        return ""
    return _GROUPS.get(kind, OTHER)


@dataclass(frozen=True)
class Pruning:
    """The prune decision, and the deletes it allows: dropped companions always, then the
    candidates unless refused (each in live listing order)."""

    decision: PruneDecision
    deletes: tuple[Action, ...]


def _owner(obj: Mapping[str, Any], policy: Policy) -> tuple[str, str]:
    return policy.label(obj, "service") or "", policy.label(obj, "instance") or ""


def prune(live_by_key: Mapping[Key, Mapping[str, Any]], planned: Mapping[Key, Desired], replaced: Collection[Key],
          wanted: Wanted, policy: Policy, *, sources_ok: bool, recent: Mapping[str, int] | None = None) -> Pruning:
    """The managed live objects nothing desired accounts for, and what becomes of them. `recent`:
    prune deletions per kind group within the prune window (the cluster's ledger)."""
    candidates: list[Mapping[str, Any]] = []
    deletes: list[Action] = []  # dropped companions first
    rendered = {(item.service, item.instance) for item in planned.values()}
    for key, obj in live_by_key.items():
        if key in planned or key in replaced or key[0] == "Namespace" or not policy.managed(obj):
            continue
        service, instance = _owner(obj, policy)
        if service in wanted.protected_services or (service, instance) in wanted.protected_instances:
            continue
        if key[0] in _COMPANIONS and (service, instance) in rendered:
            deletes.append(Action("delete", key[0], key[1], key[2], service, instance,
                                  f"the instance no longer has a {key[0]} (stopped, or no longer autoscaled)",
                                  None, obj))
            continue
        candidates.append(obj)

    decision = _decision(candidates, live_by_key.values(), policy, sources_ok=sources_ok, recent=recent or {})
    if candidates and not decision.refused:
        for obj in candidates:
            kind, namespace, name = key_of(obj)
            deletes.append(Action("delete", kind, namespace, name, *_owner(obj, policy), "no longer in git", None, obj,
                                  prune_group=kind_group(kind)))
    return Pruning(decision, tuple(deletes))


def group_counts(candidates: Sequence[Mapping[str, Any]], live: Iterable[Mapping[str, Any]],
                 policy: Policy) -> tuple[GroupCount, ...]:
    """Per kind group with candidates: how many would go now, of how many managed now."""
    doomed = Counter(g for obj in candidates if (g := kind_group(str(obj.get("kind", "")))))
    managed = Counter(g for obj in live if policy.managed(obj) and (g := kind_group(str(obj.get("kind", "")))))
    return tuple(GroupCount(group, doomed[group], managed[group]) for group in sorted(doomed))


def over_fraction(groups: Sequence[GroupCount], recent: Mapping[str, int], policy: Policy) -> str | None:
    """Why a prune of `groups` is refused (the first group over max_prune_fraction over the
    window), or None when it is within bounds."""
    limit = policy.max_prune_fraction
    for g in groups:
        before = recent.get(g.group, 0)
        total = g.managed + before
        if g.doomed and total and (before + g.doomed) > limit * total:
            share = (before + g.doomed) * 100 / total
            what = _NAMES.get(g.group, g.group)
            if before:
                return (f"would delete {g.doomed} of {g.managed} {what}, after {before} deleted in the last "
                        f"{policy.prune_window:g} s ({share:.0f}% of {total}), over max_prune_fraction {limit:g}")
            return f"would delete {g.doomed} of {g.managed} {what} ({share:.0f}%), over max_prune_fraction {limit:g}"
    return None


def _decision(candidates: Sequence[Mapping[str, Any]], live: Iterable[Mapping[str, Any]], policy: Policy, *,
              sources_ok: bool, recent: Mapping[str, int]) -> PruneDecision:
    orphans = tuple((*key_of(obj), *_owner(obj, policy)) for obj in candidates)
    count = len(candidates)
    if count == 0:
        return PruneDecision(0, False, None, orphans)
    if not policy.prune:
        return PruneDecision(count, True, "prune is off", orphans)
    if not sources_ok:
        return PruneDecision(count, True, "the sources could not be read", orphans)
    groups = group_counts(candidates, live, policy)
    reason = None if policy.allow_mass_prune else over_fraction(groups, recent, policy)
    return PruneDecision(count, reason is not None, reason, orphans, groups, dict(recent))
