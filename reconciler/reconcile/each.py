"""One cycle on each of several clusters in turn, as the CLI runs them (`plan`, `apply`, `drift`,
`status`): connected one at a time, closed after, and a cluster that cannot be reached, or that
refuses, never stops the others."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from reconciler.cluster.errors import ClusterError
from reconciler.cluster.factory import connect
from reconciler.cluster.protocol import Cluster
from reconciler.config import Config
from reconciler.reconcile.cycle import CycleResult, Mode, policy_for, reconcile
from reconciler.reconcile.redact_key import installation_key
from reconciler.reconcile.revision import Revision

T = TypeVar("T")


@dataclass(frozen=True)
class ClusterRun(Generic[T]):
    """One cluster's cycle: its result (and what `then` read), or why there is none."""

    name: str
    result: CycleResult | None = None
    extra: T | None = None
    error: str | None = None


def reconcile_each(config: Config, names: Sequence[str], revision: Revision, mode: Mode, *,
                   refuse: Callable[[str, Cluster], str | None] | None = None,
                   then: Callable[[str, Cluster, CycleResult], T] | None = None) -> list[ClusterRun[T]]:
    """A cycle of `revision` on each cluster of `names`, in that order. `refuse` may name a reason
    not to run on a cluster (a lease another process holds); `then` reads more from the cluster
    after its cycle, while it is still connected. API errors end that cluster's run, with the
    error, and the next cluster goes on."""
    runs: list[ClusterRun[T]] = []
    key = installation_key(config)
    for name in names:
        try:
            backend = connect(config.clusters[name])
            try:
                reason = refuse(name, backend) if refuse is not None else None
                if reason is not None:
                    runs.append(ClusterRun(name, error=reason))
                    continue
                policy = policy_for(config.clusters[name], config.label_domain, config.lease_namespace,
                                    redact_key=key, edit_managers=config.edit_managers)
                result = reconcile(backend, policy, revision, mode)
                runs.append(ClusterRun(name, result, then(name, backend, result) if then is not None else None))
            finally:
                backend.close()
        except ClusterError as exc:
            runs.append(ClusterRun(name, error=str(exc)))
    return runs
