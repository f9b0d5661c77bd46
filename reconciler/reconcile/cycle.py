"""One reconcile cycle for one cluster: desired (rendered) and live (listed) -> plan -> health
gating -> budgets -> bookkeeping -> apply.

This is where the pure engine meets the cluster; the CLI (`plan`, `apply`) and, later, the
daemon call it. Nothing is written when `apply` is False.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from reconciler.cluster.protocol import Cluster
from reconciler.config import ClusterConfig
from reconciler.engine.bookkeeping import annotate
from reconciler.engine.health import Health
from reconciler.engine.plan import Desired, Plan, plan
from reconciler.engine.rollout import Budget, gate
from reconciler.engine.train import guard
from reconciler.kinds import WORKLOAD_KINDS
from reconciler.reconcile.apply import Outcome, execute, list_live
from reconciler.reconcile.observe import read_health
from reconciler.render.service import Outcome as RenderOutcome
from reconciler.render.tree import TreeRender

Key = tuple[str, str | None, str]


@dataclass
class CycleResult:
    """What a cycle decided and did on one cluster, in the spec's plan/apply JSON shape."""

    cluster: str
    dry_run: bool
    plan: Plan
    outcomes: list[Outcome] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)
    health: dict[Key, Health] = field(default_factory=dict)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def as_dict(self) -> dict[str, Any]:
        doc = self.plan.as_dict()
        failures = {(o.action.kind, o.action.namespace, o.action.name): o.error for o in self.failed}
        for action in doc["actions"]:
            error = failures.get((action["kind"], action["namespace"], action["name"]))
            if error:
                action["error"] = error
        return {"cluster": self.cluster, "dry_run": self.dry_run, "actions": doc["actions"],
                "summary": doc["summary"], "prune": doc["prune"], "halted_trains": doc["halted_trains"],
                "requests": self.requests}


@dataclass(frozen=True)
class ClusterDesired:
    """What git wants on one cluster, and what must never be pruned: services whose files
    failed to read or validate, and instances that are invalid or not deployed yet."""

    objects: list[Desired]
    protected_services: frozenset[str]
    protected_instances: frozenset[tuple[str, str]]
    auto_rollback: frozenset[tuple[str, str]]


def desired_objects(rendered: TreeRender, cluster: str) -> ClusterDesired:
    """The rendered objects of `cluster` and what goes with them (see ClusterDesired)."""
    desired: list[Desired] = []
    protected_instances: set[tuple[str, str]] = set()
    auto_rollback: set[tuple[str, str]] = set()
    protected_services = {i.service for i in rendered.issues if i.is_error and i.service}
    for result in rendered.results:
        if result.cluster != cluster:
            continue
        if result.outcome is RenderOutcome.RENDERED and result.instance is not None:
            desired.extend(Desired(obj, result.service, result.instance) for obj in result.objects)
            if result.auto_rollback:
                auto_rollback.add((result.service, result.instance))
        elif result.instance is None:
            protected_services.add(result.service)
        else:
            protected_instances.add((result.service, result.instance))
    return ClusterDesired(desired, frozenset(protected_services), frozenset(protected_instances),
                          frozenset(auto_rollback))


def reconcile(cluster: Cluster, settings: ClusterConfig, rendered: TreeRender, *, label_domain: str,
              apply: bool, dry_run: bool = False, allow_mass_prune: bool = False,
              services: frozenset[str] | None = None, now: datetime | None = None,
              check_drift: bool = False, sources_ok: bool = True, fleet_wide: bool = False,
              may_write: Callable[[], bool] | None = None) -> CycleResult:
    """Plan (and with `apply`, carry out) one cycle on `cluster`. `services` limits the cycle to
    those services: objects of other services are neither changed nor pruned. `check_drift`
    compares every object field by field (PDBs and HPAs are then listed in full). Without
    `sources_ok` (git could not be read: `rendered` is the last good state) nothing is pruned.
    `may_write` is asked before each write (see `executor.execute`). `fleet_wide`: a cluster-wide
    setting changed, so config-only bounces go after new code deploys (spec section 4)."""
    now = now or datetime.now(timezone.utc)
    before = cluster.counters.snapshot()
    wanted = desired_objects(rendered, settings.name)
    live = list_live(cluster, label_domain, full=check_drift)
    # budgets count every managed workload of the cluster, whatever this cycle is limited to
    workloads = [o for o in live if o.get("kind") in WORKLOAD_KINDS]
    if services is not None:
        service_label = f"{label_domain}/service"
        live = [o for o in live if o.get("kind") == "Namespace"
                or ((o.get("metadata") or {}).get("labels") or {}).get(service_label) in services]
    health = read_health(cluster, live, now=now, label_domain=label_domain,
                         progress_deadline_seconds=settings.rollout.progress_deadline_seconds)
    planned = plan(settings.name, wanted.objects, live, label_domain=label_domain, prune=settings.prune,
                   max_prune_fraction=settings.max_prune_fraction, sources_ok=sources_ok,
                   protected_services=wanted.protected_services,
                   protected_instances=wanted.protected_instances,
                   allow_mass_prune=allow_mass_prune, allow_recreate=settings.allow_recreate,
                   drift=check_drift, heal_drift=settings.heal_drift, ignore=settings.ignore_differences)
    guarded = guard(planned, health, label_domain=label_domain, auto_rollback=wanted.auto_rollback)
    budget = Budget(settings.rollout.max_concurrent_bounces, settings.rollout.max_unavailable_fraction,
                    settings.rollout.bounces_per_minute)
    final = annotate(gate(guarded, workloads, budget, now=now, label_domain=label_domain, fleet_wide=fleet_wide),
                     now=now, label_domain=label_domain)
    outcomes: list[Outcome] = []
    if apply:
        outcomes = execute(cluster, final, label_domain=label_domain, dry_run=dry_run, may_write=may_write)
    after = cluster.counters.snapshot()
    return CycleResult(settings.name, dry_run or not apply, final, outcomes,
                       {k: after[k] - before[k] for k in after}, health)
