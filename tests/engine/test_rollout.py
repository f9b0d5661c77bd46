"""Rollout budgets: which bounces start this cycle and which wait (pure; no clock)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler.engine.actions import Desired, Plan, Wanted
from reconciler.engine.marks import BOUNCE_STARTED
from reconciler.engine.plan import plan
from reconciler.engine.policy import Budget, Policy
from reconciler.engine.rollout import bounce_class, gate
from tests.helpers import render

DOMAIN = "paasta.yelp.com"
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
NAMES = [f"i{n:02d}" for n in range(12)]
K8S = "".join(f"{name}:\n  instances: 3\n" for name in NAMES)


def desired(*names: str, k8s: str = K8S) -> list[Desired]:
    out: list[Desired] = []
    for name in names or tuple(NAMES):
        result = render(k8s, name)
        assert result.objects, result.error_text()
        out += [Desired(o, "svc", name) for o in result.objects]
    return out


def as_live(obj: Mapping[str, Any], *, config: str | None = None, git_sha: str | None = None,
            state: str | None = "complete", unavailable: int = 0,
            started: datetime | None = None) -> dict[str, Any]:
    """`obj` as listed: `config` / `git_sha` replace those labels (so the plan updates it);
    `state` complete / progress / None (no status); `unavailable` pods not available."""
    out = copy.deepcopy(dict(obj))
    meta = out["metadata"]
    meta.update(uid=f"uid-{meta['name']}", resourceVersion="42", generation=1)
    if config is not None:
        meta["labels"][f"{DOMAIN}/config_sha"] = config
    if git_sha is not None:
        meta["labels"][f"{DOMAIN}/git_sha"] = git_sha
    if started is not None:
        meta.setdefault("annotations", {})[f"{DOMAIN}/{BOUNCE_STARTED}"] = started.strftime("%Y-%m-%dT%H:%M:%SZ")
    if out["kind"] in ("Deployment", "StatefulSet") and state is not None:
        n = out["spec"].get("replicas", 1)
        updated = n if state == "complete" else n - 1
        out["status"] = {"observedGeneration": 1, "replicas": n, "updatedReplicas": updated,
                         "readyReplicas": n - unavailable, "availableReplicas": n - unavailable}
    return out


def cluster(want: list[Desired], *, changed: AbstractSet[str] = frozenset(),
            new_code: AbstractSet[str] = frozenset(), **per_instance: Any) -> list[dict[str, Any]]:
    """The live objects of `want`: in sync, except the workloads of `changed` (config change) and
    `new_code` (git_sha change); `per_instance[name]` are more as_live arguments."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for d in want:
        key = (d.obj["kind"], d.obj["metadata"]["name"])
        if key in seen:
            continue
        kw: dict[str, Any] = {}
        if d.obj["kind"] == "Deployment":
            kw = dict(per_instance.get(d.instance, {}))
            if d.instance in changed or d.instance in new_code:
                kw["config"] = "configold"
            if d.instance in new_code:
                kw["git_sha"] = "f" * 40
        seen[key] = as_live(d.obj, **kw)
    return list(seen.values())


def policy(budget: Budget = Budget()) -> Policy:
    return Policy("norcal-prod", DOMAIN, budget=budget)


def planned(want: list[Desired], live: list[dict[str, Any]]) -> Plan:
    return plan(Wanted(want), live, policy())


def gated(want: list[Desired], live: list[dict[str, Any]], budget: Budget = Budget(), **kw: Any) -> Plan:
    return gate(planned(want, live), live, policy(budget), now=NOW, **kw)


def started(p: Plan) -> list[str]:
    return [a.instance for a in p.actions if a.action == "update"]


def waiting(p: Plan) -> list[str]:
    return [a.instance for a in p.actions if a.action == "wait"]


def test_twelve_updates_with_two_concurrent_start_two_and_ten_wait() -> None:
    want = desired()
    live = cluster(want, changed=set(NAMES))
    p = gated(want, live, Budget(max_concurrent_bounces=2))
    assert started(p) == ["i00", "i01"]
    assert waiting(p) == NAMES[2:]
    assert p.summary() == {"create": 0, "update": 2, "scale": 0, "delete": 0, "noop": 13, "wait": 10}
    held = [a for a in p.actions if a.action == "wait"][0]
    assert held.reason == "held: 2 of max_concurrent_bounces 2 rollouts in progress"
    assert held.kind == "Deployment" and held.name == "svc-i02" and held.namespace == "paastasvc-svc"
    assert held.desired is not None and held.live is not None
    # actions keep the planner's order; only the action name and reason changed
    before = planned(want, live)
    assert [(a.kind, a.name) for a in p.actions] == [(a.kind, a.name) for a in before.actions]


def test_no_bounce_over_budget_returns_the_same_plan() -> None:
    want = desired("i00", "i01")
    live = cluster(want, changed={"i00"})
    p = planned(want, live)
    assert gate(p, live, policy(Budget()), now=NOW) == p


def test_rollouts_in_progress_count_against_the_concurrency() -> None:
    want = desired()
    live = cluster(want, changed=set(NAMES[:11]), i11={"state": "progress"})
    p = gated(want, live, Budget(max_concurrent_bounces=2))
    assert started(p) == ["i00"]
    assert [a.reason for a in p.actions if a.action == "wait"][0] == \
        "held: 2 of max_concurrent_bounces 2 rollouts in progress"


def test_rebouncing_a_workload_already_in_progress_is_not_held_by_concurrency() -> None:
    want = desired("i00", "i01")
    live = cluster(want, changed={"i00", "i01"}, i00={"state": "progress"})
    p = gated(want, live, Budget(max_concurrent_bounces=1))
    assert started(p) == ["i00"] and waiting(p) == ["i01"]


def test_live_without_status_counts_as_complete() -> None:
    want = desired("i00", "i01", "i02")
    live = cluster(want, changed={"i00", "i01"}, i02={"state": None})
    p = gated(want, live, Budget(max_concurrent_bounces=2))
    assert started(p) == ["i00", "i01"]


def test_one_bounce_always_starts_when_none_is_in_progress() -> None:
    # A complete rollout has every pod available (kubectl's rules), so with nothing in progress
    # the observed fraction is 0: a limit of 0 is the one way to be "over" it then.
    want = desired("i00", "i01", "i02")
    live = cluster(want, changed={"i00", "i01"})
    p = gated(want, live, Budget(max_unavailable_fraction=0.0))
    assert started(p) == ["i00"] and waiting(p) == ["i01"]
    reason = [a.reason for a in p.actions if a.action == "wait"][0]
    assert reason == ("held: 0 of 9 pods unavailable (0%), over max_unavailable_fraction 0, "
                      "1 rollouts in progress")


def test_a_workload_short_of_available_pods_counts_as_in_progress() -> None:
    # 2 of 9 pods unavailable (a node lost): not complete by kubectl's rules
    want = desired("i00", "i01", "i02")
    live = cluster(want, changed={"i00", "i01"}, i02={"unavailable": 2})
    p = gated(want, live, Budget(max_unavailable_fraction=0.1))
    assert started(p) == [] and waiting(p) == ["i00", "i01"]
    reason = [a.reason for a in p.actions if a.action == "wait"][0]
    assert reason.startswith("held: 2 of 9 pods unavailable (22%), over max_unavailable_fraction 0.1")
    assert started(gated(want, live, Budget(max_unavailable_fraction=0.25))) == ["i00", "i01"]


def test_unavailable_fraction_holds_when_something_is_in_progress() -> None:
    want = desired("i00", "i01", "i02")
    live = cluster(want, changed={"i00", "i01"}, i02={"state": "progress", "unavailable": 1})
    assert started(gated(want, live, Budget(max_unavailable_fraction=0.1))) == []
    assert waiting(gated(want, live, Budget(max_unavailable_fraction=0.1))) == ["i00", "i01"]
    # 1 of 9 is 11%: under a 0.2 limit both start
    assert started(gated(want, live, Budget(max_unavailable_fraction=0.2))) == ["i00", "i01"]


def test_bounces_per_minute_counts_recent_annotations_only() -> None:
    want = desired()
    recent: dict[str, Any] = {name: {"started": NOW - timedelta(seconds=s)} for name, s in
              (("i06", 0), ("i07", 30), ("i08", 60))}
    old: dict[str, Any] = {name: {"started": NOW - timedelta(seconds=s)} for name, s in (("i09", 61), ("i10", 3600))}
    future: dict[str, Any] = {"i11": {"started": NOW + timedelta(seconds=5)}}
    live = cluster(want, changed=set(NAMES[:6]), **recent, **old, **future)
    p = gated(want, live, Budget(bounces_per_minute=5))
    assert started(p) == ["i00", "i01"]
    assert waiting(p) == ["i02", "i03", "i04", "i05"]
    assert [a.reason for a in p.actions if a.action == "wait"][0] == \
        "held: 5 of bounces_per_minute 5 bounces started in the last 60 s"


def test_new_code_goes_before_an_older_config_change() -> None:
    want = desired("i00", "i01")
    live = cluster(want, changed={"i00"}, new_code={"i01"})
    p = gated(want, live, Budget(max_concurrent_bounces=1),
              changed_at={("svc", "i00"): NOW - timedelta(hours=5), ("svc", "i01"): NOW})
    assert started(p) == ["i01"] and waiting(p) == ["i00"]


def test_fleet_wide_config_changes_go_last() -> None:
    want = desired("i00", "i01")
    live = cluster(want, changed={"i00"}, new_code={"i01"})
    p = planned(want, live)
    updates = {a.instance: a for a in p.actions if a.action == "update"}
    assert bounce_class(updates["i00"]) == 1 and bounce_class(updates["i01"]) == 0
    assert bounce_class(updates["i00"], fleet_wide=True) == 2
    assert bounce_class(updates["i01"], fleet_wide=True) == 0


def test_oldest_change_first_within_a_class_then_plan_order() -> None:
    want = desired("i00", "i01", "i02", "i03")
    live = cluster(want, changed={"i00", "i01", "i02", "i03"})
    changed_at = {("svc", "i02"): NOW - timedelta(minutes=10), ("svc", "i03"): NOW - timedelta(minutes=20)}
    p = gated(want, live, Budget(max_concurrent_bounces=3), changed_at=changed_at)
    # i03 (oldest), i02, then i00 before i01 (both missing = now: plan order)
    assert started(p) == ["i00", "i02", "i03"] and waiting(p) == ["i01"]


def test_creates_scales_and_companion_updates_are_never_held() -> None:
    want = desired("i00", "i01", "i02", "i03")
    live = [o for o in cluster(want, changed={"i03"}, i02={"state": "progress", "unavailable": 3})
            if o["metadata"]["name"] != "svc-i00"]
    for obj in live:
        if obj["metadata"]["name"] == "svc-i01" and obj["kind"] == "Deployment":
            obj["spec"]["replicas"] = 5
        if obj["metadata"]["name"] == "svc-i02" and obj["kind"] == "PodDisruptionBudget":
            obj["metadata"]["labels"][f"{DOMAIN}/config_sha"] = "configold"
    p = gated(want, live, Budget(max_concurrent_bounces=0, max_unavailable_fraction=0.0,
                                 bounces_per_minute=0))
    steps = {(a.action, a.kind, a.instance) for a in p.actions if a.action != "noop"}
    assert steps == {("create", "Deployment", "i00"), ("create", "PodDisruptionBudget", "i00"),
                     ("scale", "Deployment", "i01"), ("update", "PodDisruptionBudget", "i02"),
                     ("wait", "Deployment", "i03")}


def test_deterministic_whatever_the_listing_order() -> None:
    want = desired()
    live = cluster(want, changed=set(NAMES), i03={"state": "progress", "started": NOW},
                   i05={"started": NOW - timedelta(seconds=10)})
    budget = Budget(max_concurrent_bounces=4, bounces_per_minute=4)
    changed_at = {("svc", "i07"): NOW - timedelta(minutes=1)}
    first = gated(want, live, budget, changed_at=changed_at)
    p = planned(want, live)
    again = gate(p, list(reversed(live)), policy(budget), now=NOW, changed_at=changed_at)
    assert first == again
    assert [a.reason for a in first.actions] == [a.reason for a in again.actions]
    # 2 starts in the last minute (i03, i05) of 4: two more, the oldest change (i07) first
    assert started(first) == ["i00", "i07"]




def test_rollbacks_go_first_and_are_not_held_by_the_unavailable_fraction() -> None:
    import dataclasses

    want = desired("i00", "i01", "i02")
    live = cluster(want, changed={"i00", "i01", "i02"}, i02={"unavailable": 3, "state": "progress"})
    p = planned(want, live)
    actions = tuple(dataclasses.replace(a, rollback=True) if a.instance == "i02" and a.action == "update" else a
                    for a in p.actions)
    p = dataclasses.replace(p, actions=actions)
    out = gate(p, live, policy(Budget(max_concurrent_bounces=1, bounces_per_minute=1)), now=NOW)
    assert started(out) == ["i02"]  # the rollback took the only bounce of this minute
    out = gate(p, live, policy(Budget(max_unavailable_fraction=0.1)), now=NOW)
    assert started(out) == ["i02"]  # 3 of 9 unavailable with one in progress: only the rollback goes


def test_fixing_a_failing_rollout_is_not_held_by_its_own_unavailable_pods() -> None:
    want = desired("i00", "i01")
    live = cluster(want, changed={"i00", "i01"}, i00={"unavailable": 3, "state": "progress"})
    out = gated(want, live, Budget(max_unavailable_fraction=0.1))
    assert started(out) == ["i00"]  # the fix of the failing i00 goes; i01 would add to the outage
    assert waiting(out) == ["i01"]
