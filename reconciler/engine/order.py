"""The apply order of a plan's actions (pure): Namespaces, ServiceAccounts (pods need theirs to
exist), workloads, then PDBs, HPAs and other
kinds; deletions last, dependents (HPAs, PDBs) before the workloads they point at, other kinds
after. Stable within a group: desired order, then live listing order."""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.engine.actions import Action

#: Apply order of the non-delete actions, by kind (unknown kinds go with PDB/HPA).
_APPLY_RANK = {"Namespace": 0, "ServiceAccount": 0, "Deployment": 1, "StatefulSet": 1}
_APPLY_DEFAULT_RANK = 2
#: Order of deletions, by kind: dependents before the workloads they point at.
_DELETE_RANK = {"HorizontalPodAutoscaler": 0, "PodDisruptionBudget": 1, "Deployment": 2, "StatefulSet": 2}
_DELETE_DEFAULT_RANK = 3


def ordered(applies: Sequence[Action], deletes: Sequence[Action]) -> tuple[Action, ...]:
    """`applies` (in desired order; the deletes a recreate puts before its create among them)
    ranked by kind, then `deletes` ranked by kind."""
    first = sorted(applies, key=lambda a: _APPLY_RANK.get(a.kind, _APPLY_DEFAULT_RANK))
    last = sorted(deletes, key=lambda a: _DELETE_RANK.get(a.kind, _DELETE_DEFAULT_RANK))
    return (*first, *last)
