"""What git no longer has: prune candidates, dropped companions, and the prune guards (pure).

- Prune candidates: managed live objects with no desired counterpart, except Namespaces, the
  objects a recreate replaces, and objects of protected services / instances.
- A PDB or HPA of an instance that rendered without it (stopped, or no longer autoscaled) is not
  a prune candidate: it is deleted whatever the prune settings, since git says so for an instance
  it still has.
- Candidates are deleted only when `prune` is on, the sources were read, and (unless
  `allow_mass_prune`) the workloads among them are at most `max_prune_fraction` of the managed
  workloads; otherwise the decision says why, and no delete action is planned.
- Delete actions of objects without service or instance labels carry "" for them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.engine.actions import Action, Desired, PruneDecision, Wanted
from reconciler.engine.objects import Key, key_of
from reconciler.engine.policy import Policy
from reconciler.kinds import WORKLOAD_KINDS

#: Kinds an instance renders beside its workload; one it no longer renders is deleted with it
#: in git (not a prune): the HPA of a stopped autoscaled instance.
_COMPANIONS = frozenset({"HorizontalPodAutoscaler", "PodDisruptionBudget"})


@dataclass(frozen=True)
class Pruning:
    """The prune decision, and the deletes it allows: dropped companions always, then the
    candidates unless refused (each in live listing order)."""

    decision: PruneDecision
    deletes: tuple[Action, ...]


def _owner(obj: Mapping[str, Any], policy: Policy) -> tuple[str, str]:
    return policy.label(obj, "service") or "", policy.label(obj, "instance") or ""


def prune(live_by_key: Mapping[Key, Mapping[str, Any]], planned: Mapping[Key, Desired], replaced: Collection[Key],
          wanted: Wanted, policy: Policy, *, sources_ok: bool) -> Pruning:
    """The managed live objects nothing desired accounts for, and what becomes of them."""
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

    decision = _decision(candidates, live_by_key.values(), policy, sources_ok=sources_ok)
    if candidates and not decision.refused:
        for obj in candidates:
            kind, namespace, name = key_of(obj)
            deletes.append(Action("delete", kind, namespace, name, *_owner(obj, policy), "no longer in git", None, obj))
    return Pruning(decision, tuple(deletes))


def _decision(candidates: Sequence[Mapping[str, Any]], live: Iterable[Mapping[str, Any]], policy: Policy, *,
              sources_ok: bool) -> PruneDecision:
    orphans = tuple((*key_of(obj), *_owner(obj, policy)) for obj in candidates)
    count = len(candidates)
    if count == 0:
        return PruneDecision(0, False, None, orphans)
    if not policy.prune:
        return PruneDecision(count, True, "prune is off", orphans)
    if not sources_ok:
        return PruneDecision(count, True, "the sources could not be read", orphans)
    doomed = sum(1 for obj in candidates if obj.get("kind") in WORKLOAD_KINDS)
    total = sum(1 for obj in live if obj.get("kind") in WORKLOAD_KINDS and policy.managed(obj))
    fraction = policy.max_prune_fraction
    if doomed and not policy.allow_mass_prune and doomed > fraction * total:
        return PruneDecision(count, True, f"would delete {doomed} of {total} managed workloads "
                                          f"({doomed * 100 / total:.0f}%), over max_prune_fraction "
                                          f"{fraction:g}", orphans)
    return PruneDecision(count, False, None, orphans)
