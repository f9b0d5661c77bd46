"""One reconcile cycle for one cluster: desired (rendered) and live (listed) -> plan -> budgets -> apply.

This is where the pure engine meets the cluster; the CLI (`plan`, `apply`) and, later, the
daemon call it. Nothing is written when `apply` is False.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from reconciler.cluster.protocol import Cluster
from reconciler.config import ClusterConfig
from reconciler.desired import TreeRender
from reconciler.engine.changes import WORKLOAD_KINDS
from reconciler.engine.plan import Desired, Plan, plan
from reconciler.engine.rollout import Budget, bounce_annotations, gate, is_bounce
from reconciler.executor import Outcome, execute, list_live
from reconciler.render.service import Outcome as RenderOutcome


@dataclass
class CycleResult:
    """What a cycle decided and did on one cluster, in the spec's plan/apply JSON shape."""

    cluster: str
    dry_run: bool
    plan: Plan
    outcomes: list[Outcome] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)

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
                "summary": doc["summary"], "prune": doc["prune"], "requests": self.requests}


def desired_objects(rendered: TreeRender, cluster: str) -> tuple[list[Desired], frozenset[str], frozenset[tuple[str, str]]]:
    """Rendered objects of `cluster`, and what must never be pruned: services whose files failed
    to read or validate, and instances that are invalid or not deployed yet."""
    desired: list[Desired] = []
    protected_instances: set[tuple[str, str]] = set()
    protected_services = {i.service for i in rendered.issues if i.is_error and i.service}
    for result in rendered.results:
        if result.cluster != cluster:
            continue
        if result.outcome is RenderOutcome.RENDERED and result.instance is not None:
            desired.extend(Desired(obj, result.service, result.instance) for obj in result.objects)
        elif result.instance is None:
            protected_services.add(result.service)
        else:
            protected_instances.add((result.service, result.instance))
    return desired, frozenset(protected_services), frozenset(protected_instances)


def reconcile(cluster: Cluster, settings: ClusterConfig, rendered: TreeRender, *, label_domain: str,
              apply: bool, dry_run: bool = False, allow_mass_prune: bool = False,
              services: frozenset[str] | None = None, now: datetime | None = None) -> CycleResult:
    """Plan (and with `apply`, carry out) one cycle on `cluster`. `services` limits the cycle to
    those services: objects of other services are neither changed nor pruned."""
    now = now or datetime.now(timezone.utc)
    before = cluster.counters.snapshot()
    desired, protected_services, protected_instances = desired_objects(rendered, settings.name)
    live = list_live(cluster, label_domain)
    if services is not None:
        service_label = f"{label_domain}/service"
        live = [o for o in live if o.get("kind") == "Namespace"
                or ((o.get("metadata") or {}).get("labels") or {}).get(service_label) in services]
    planned = plan(settings.name, desired, live, label_domain=label_domain, prune=settings.prune,
                   max_prune_fraction=settings.max_prune_fraction, sources_ok=True,
                   protected_services=protected_services, protected_instances=protected_instances,
                   allow_mass_prune=allow_mass_prune, allow_recreate=settings.allow_recreate)
    budget = Budget(settings.rollout.max_concurrent_bounces, settings.rollout.max_unavailable_fraction,
                    settings.rollout.bounces_per_minute)
    workloads = [o for o in live if o.get("kind") in WORKLOAD_KINDS]
    gated = gate(planned, workloads, budget, now=now, label_domain=label_domain)
    outcomes: list[Outcome] = []
    if apply:
        outcomes = execute(cluster, _with_bounce_marks(gated, now, label_domain), label_domain=label_domain,
                           dry_run=dry_run)
    after = cluster.counters.snapshot()
    return CycleResult(settings.name, dry_run or not apply, gated, outcomes,
                       {k: after[k] - before[k] for k in after})


def _with_bounce_marks(planned: Plan, now: datetime, label_domain: str) -> Plan:
    """The bounces that start now carry their start time (counted by later bounces_per_minute)."""
    actions = []
    for action in planned.actions:
        if is_bounce(action) and action.desired is not None:
            marks = bounce_annotations(action.desired, now, label_domain)
            meta = dict(action.desired.get("metadata") or {})
            meta["annotations"] = {**(meta.get("annotations") or {}), **marks}
            action = dataclasses.replace(action, desired={**action.desired, "metadata": meta})
        actions.append(action)
    return dataclasses.replace(planned, actions=tuple(actions))
