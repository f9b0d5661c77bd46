"""One reconcile cycle for one cluster: a revision's desired objects and the live ones (listed) ->
plan -> health gating -> budgets -> bookkeeping -> apply.

This is where the pure engine meets the cluster. Every caller goes through `reconcile`: the
daemon's jobs, `plan`, `apply`, `drift`, `status` (see `each.reconcile_each` for the CLI's loop
over clusters). Nothing is written unless the mode says `apply`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from reconciler.cluster.protocol import Cluster
from reconciler.config import ClusterConfig
from reconciler.config.model import FreezeWindow
from reconciler.engine.actions import Plan
from reconciler.engine.bookkeeping import annotate
from reconciler.engine.edits import DEFAULT_EDIT_MANAGERS
from reconciler.engine.freeze import Freeze, hold, holdable
from reconciler.engine.health import Health
from reconciler.engine.objects import Key
from reconciler.engine.plan import plan
from reconciler.engine.policy import Budget, Policy
from reconciler.engine.rollout import gate
from reconciler.engine.train import guard
from reconciler.kinds import WORKLOAD_KINDS
from reconciler.reconcile.apply import Outcome, execute
from reconciler.reconcile.desired import wanted
from reconciler.reconcile.freezes import active, read_freezes
from reconciler.reconcile.ledger import Ledger
from reconciler.reconcile.observe import list_live, read_health
from reconciler.reconcile.revision import Revision
from reconciler.render.service import Outcome as RenderOutcome


def policy_for(settings: ClusterConfig, label_domain: str, lease_namespace: str = "reconciler", *,
               redact_key: bytes | None = None, edit_managers: tuple[str, ...] | None = None) -> Policy:
    """The engine's rules for a cluster, from its settings and the installation's: the label
    domain, the lease namespace (where the prune ledger lives), the key env values are hashed
    under (unless the cluster has `show_env_values`) and the managers of hand edits."""
    rollout = settings.rollout
    return Policy(settings.name, label_domain, prune=settings.prune,
                  edit_managers=DEFAULT_EDIT_MANAGERS if edit_managers is None else edit_managers,
                  redact_key=None if settings.show_env_values else redact_key,
                  max_prune_fraction=settings.max_prune_fraction, prune_window=settings.prune_window,
                  ledger_namespace=lease_namespace, allow_recreate=settings.allow_recreate,
                  heal_drift=settings.heal_drift, ignore=settings.ignore_differences,
                  budget=Budget(rollout.max_concurrent_bounces, rollout.max_unavailable_fraction,
                                rollout.bounces_per_minute),
                  progress_deadline_seconds=rollout.progress_deadline_seconds)


@dataclass(frozen=True)
class Mode:
    """What one cycle may do and look at.

    `apply`: write (else plan only); `dry_run`: writes as server dry runs. `check_drift`: compare
    every object field by field (PDBs and HPAs are then listed in full). `allow_mass_prune`: lift
    max_prune_fraction for this cycle. `sources_ok`: git was read (else the revision is the last
    good one, and nothing is pruned). `fleet_wide`: a cluster-wide setting changed, so
    config-only bounces go after new code deploys (spec section 4). `services`: limit the cycle
    to those services (objects of others are neither changed nor pruned). `may_write`: asked
    before each write (see `apply.execute`). `freeze_windows` / `time_zone`: the configured
    freeze windows and the zone their schedules are read in; `override_freeze`: the freezes in
    force are reported but hold nothing (`apply --override-freeze`, one run).
    """

    apply: bool = False
    dry_run: bool = False
    check_drift: bool = False
    allow_mass_prune: bool = False
    sources_ok: bool = True
    fleet_wide: bool = False
    services: frozenset[str] | None = None
    may_write: Callable[[], bool] | None = None
    freeze_windows: tuple[FreezeWindow, ...] = ()
    time_zone: str = "UTC"
    override_freeze: bool = False


@dataclass
class CycleResult:
    """What a cycle decided and did on one cluster, in the spec's plan/apply JSON shape."""

    cluster: str
    dry_run: bool
    plan: Plan
    outcomes: list[Outcome] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)
    health: dict[Key, Health] = field(default_factory=dict)
    #: Instances of the cluster git has but that cannot be rendered (instance "*": a file whose
    #: instances cannot be named), with the error; and those not deployed yet, with the group.
    invalid: list[dict[str, Any]] = field(default_factory=list)
    not_deployed: list[dict[str, Any]] = field(default_factory=list)
    #: The freezes in force on the cluster during the cycle (ad-hoc ones only when the plan had
    #: something they could hold), and whether they were overridden.
    freezes: tuple[Freeze, ...] = ()
    freeze_overridden: bool = False

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
                "invalid": self.invalid, "not_deployed": self.not_deployed, "requests": self.requests,
                "freezes": [f.as_dict() for f in self.freezes], "freeze_overridden": self.freeze_overridden}

    @property
    def differs(self) -> bool:
        """Git and the cluster differ: a change to make or held back, a refused prune, or an
        instance that cannot be rendered (`plan` and a dry run exit 1)."""
        changing = ("create", "update", "scale", "delete", "wait")
        summary = self.plan.summary()
        return (any(summary[a] for a in changing) or bool(self.invalid)
                or (self.plan.prune.refused and self.plan.prune.candidates > 0))


def reconcile(cluster: Cluster, policy: Policy, revision: Revision, mode: Mode = Mode(), *,
              now: datetime | None = None) -> CycleResult:
    """Plan (and with `mode.apply`, carry out) one cycle of `revision` on `cluster`, the cluster
    `policy` is for."""
    now = now or datetime.now(timezone.utc)
    before = cluster.counters.snapshot()
    if mode.allow_mass_prune:
        policy = dataclasses.replace(policy, allow_mass_prune=True)
    rendered = revision.view()
    desired = wanted(rendered, policy.cluster)
    live = list_live(cluster, policy, full=mode.check_drift)
    # budgets count every managed workload of the cluster, whatever this cycle is limited to
    workloads = [o for o in live if o.get("kind") in WORKLOAD_KINDS]
    if mode.services is not None:
        live = [o for o in live if o.get("kind") == "Namespace" or policy.label(o, "service") in mode.services]
    health = read_health(cluster, live, policy, now=now)
    planned = plan(desired, live, policy, compare=mode.check_drift, sources_ok=mode.sources_ok)
    if planned.prune.candidates and not planned.prune.refused and not policy.allow_mass_prune:
        # a prune within this cycle's bounds: count what was deleted in the window too (a
        # refusal without it stands: the window only adds to the fraction)
        planned = plan(desired, live, policy, compare=mode.check_drift, sources_ok=mode.sources_ok,
                       recent=Ledger(cluster, policy).recent(now))
    guarded = guard(planned, health, policy, auto_rollback=desired.auto_rollback)
    # the ad-hoc freezes are read only when they could hold something: a settled cycle reads nothing more
    stored = read_freezes(cluster, policy) if holdable(guarded, policy) else ()
    freezes = active(mode.freeze_windows, stored, policy.cluster, now, ZoneInfo(mode.time_zone))
    held = guarded if mode.override_freeze else hold(guarded, freezes, policy)
    final = annotate(gate(held, workloads, policy, now=now, fleet_wide=mode.fleet_wide), policy, now=now)
    outcomes: list[Outcome] = []
    if mode.apply:
        outcomes = execute(cluster, final, policy, dry_run=mode.dry_run, may_write=mode.may_write, now=now)
    after = cluster.counters.snapshot()
    mine = [r for r in rendered.results if r.cluster == policy.cluster
            and (mode.services is None or r.service in mode.services)]
    return CycleResult(policy.cluster, mode.dry_run or not mode.apply, final, outcomes,
                       {k: after[k] - before[k] for k in after}, health,
                       invalid=[{"service": r.service, "instance": r.instance or "*", "error": r.error_text()}
                                for r in mine if r.outcome is RenderOutcome.INVALID],
                       not_deployed=[{"service": r.service, "instance": r.instance, "deploy_group": r.deploy_group}
                                     for r in mine if r.outcome is RenderOutcome.NOT_DEPLOYED],
                       freezes=freezes, freeze_overridden=mode.override_freeze and bool(freezes))
