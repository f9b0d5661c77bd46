"""Reconcile cycles end to end on both backends: a soa-configs tree on disk, rendered and applied
cycle after cycle as the daemon would, against the simulated cluster and the real control plane.

Each test owns one service (its own namespace) and label domain, so the tests can share the
real control plane: budgets count every managed workload of a cluster, and only this test's
carry its label domain."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from reconciler.cluster.errors import NotFound
from reconciler.cluster.protocol import Cluster
from reconciler.config import RolloutBudget
from reconciler.engine.marks import FAILED_CONFIG_SHA, annotation, label
from reconciler.engine.actions import Wanted
from reconciler.engine.plan import plan
from reconciler.reconcile.apply import execute
from reconciler.reconcile.cycle import CycleResult
from reconciler.reconcile.desired import wanted as wanted_on
from reconciler.reconcile.observe import LISTED_KINDS, list_live
from tests.support.fleet import BAD, CLUSTER, FIXED, GOOD


def action(result: CycleResult, instance: str, kind: str = "Deployment") -> Any:
    return next(a for a in result.plan.actions if a.instance == instance and a.kind == kind)


TWO = "a: {instances: 2, deploy_group: prod}\nb: {instances: 2, deploy_group: prod}\n"
TWELVE = "".join(f"i{n:02d}: {{instances: 1, deploy_group: prod}}\n" for n in range(12))


def test_first_apply_creates_and_the_second_writes_nothing(fleet: Any) -> None:
    f = fleet()
    f.write(TWO, {"prod": GOOD})
    planned = f.cycle(apply=False)
    assert planned.plan.summary()["create"] == 1 + 2 * 2 and planned.requests["writes"] == 0
    first = f.cycle()
    assert first.plan.summary()["create"] == 5 and first.requests["writes"] == 5
    settled = f.settled()
    assert settled.requests == {"reads": len(LISTED_KINDS), "writes": 0, "dry_runs": 0}  # one LIST per kind


def test_a_registry_change_across_twelve_instances_starts_two_bounces_at_a_time(fleet: Any) -> None:
    f = fleet(rollout=RolloutBudget(max_concurrent_bounces=2))
    f.write(TWELVE, {"prod": GOOD})
    f.cycle()
    f.settled()
    f.write(TWELVE, {"prod": FIXED})
    result = f.cycle()
    summary = result.plan.summary()
    assert summary["update"] == 2 and summary["wait"] == 10
    assert all("max_concurrent_bounces 2" in a.reason for a in result.plan.actions if a.action == "wait")
    assert sum(f.image(f"i{n:02d}").endswith(FIXED) for n in range(12)) == 2
    # every later cycle keeps at most two rollouts going until all twelve run the new version
    deadline = time.monotonic() + 120
    while not all(f.image(f"i{n:02d}").endswith(FIXED) for n in range(12)):
        result = f.cycle()
        rolling = [k for k, h in result.health.items() if h.state != "complete"]
        assert len(rolling) <= 2, rolling
        assert time.monotonic() < deadline, "the rollout did not finish"
        time.sleep(0.2)
    f.settled()


def test_prune_is_refused_over_the_fraction_and_when_the_sources_failed(fleet: Any) -> None:
    f = fleet(prune=True, max_prune_fraction=0.5)
    groups = {f"{CLUSTER}.{i}": GOOD for i in ("a", "b", "c", "d")}
    f.write("a: {instances: 1}\nb: {instances: 1}\nc: {instances: 1}\nd: {instances: 1}\n", groups)
    f.cycle()
    f.write("a: {instances: 1}\n", groups)  # 3 of 4 workloads would go
    refused = f.cycle()
    assert refused.plan.prune.refused and "over max_prune_fraction 0.5" in (refused.plan.prune.reason or "")
    assert not [a for a in refused.plan.actions if a.action == "delete"] and refused.requests["writes"] == 0
    f.write("a: {instances: 1}\nb: {instances: 1}\nc: {instances: 1}\n", groups)  # 1 of 4
    failed_source = f.cycle(sources_ok=False)
    assert failed_source.plan.prune.reason == "the sources could not be read"
    assert failed_source.requests["writes"] == 0
    assert len(f.cluster.list("Deployment", namespace=f.namespace)) == 4
    pruned = f.cycle()
    assert [(a.kind, a.instance) for a in pruned.plan.actions if a.action == "delete"] == [
        ("PodDisruptionBudget", "d"), ("Deployment", "d")]
    assert len(f.cluster.list("Deployment", namespace=f.namespace)) == 3


@pytest.mark.parametrize("auto_rollback", [True, False], ids=["auto_rollback", "halt_only"])
def test_a_crashlooping_image_halts_the_train(fleet: Any, auto_rollback: bool) -> None:
    f = fleet(rollout=RolloutBudget(max_concurrent_bounces=1))
    pipeline = f"pipeline:\n- step: prod\n  auto_rollback: {str(auto_rollback).lower()}\n"
    f.write(TWO, {"prod": GOOD}, pipeline=pipeline)
    f.cycle()
    f.settled()
    good_image = f.image("a")

    f.write(TWO, {"prod": BAD}, pipeline=pipeline)
    first = f.cycle()
    assert action(first, "a").action == "update" and action(first, "b").action == "wait"
    assert "max_concurrent_bounces" in action(first, "b").reason
    bad_sha = label(action(first, "a").desired or {}, f.domain, "config_sha")

    halted = f.until(lambda r: bool(r.plan.halts), "the crash loop to halt the train")
    (halt,) = halted.plan.halts
    assert (halt.deploy_group, halt.instance, halt.failed_config_sha) == ("prod", "a", bad_sha)
    assert "CrashLoopBackOff" in halt.reason
    assert action(halted, "b").action == "wait" and action(halted, "b").reason.startswith("train halted: ")
    assert f.image("b") == good_image  # the train stopped before b

    if auto_rollback:
        assert action(halted, "a").rollback and action(halted, "a").action == "update"
        assert halt.rolled_back_to is not None
        assert f.image("a") == good_image
        assert annotation(f.workload("a"), f.domain, FAILED_CONFIG_SHA) == bad_sha
        later = f.until(lambda r: r.health.get(("Deployment", f.namespace, f"{f.service}-a")).state == "complete",
                        "the rollback to complete")
        assert later.plan.halts and later.plan.halts[0].rolled_back_to == halt.rolled_back_to
        assert action(later, "a").action == "wait" and "rolled back to " in action(later, "a").reason
        assert later.requests["writes"] == 0
    else:
        assert halt.rolled_back_to is None and "crashloop" in f.image("a")
        again = f.cycle()
        assert again.plan.halts and again.requests["writes"] == 0

    # git moves on: the halt lifts and the new version rolls out everywhere, within the budget
    f.write(TWO, {"prod": FIXED}, pipeline=pipeline)
    f.until(lambda r: not r.plan.halts and all(a.action == "noop" for a in r.plan.actions)
            and all(h.state == "complete" for h in r.health.values()), "the fixed version everywhere")
    assert f.image("a").endswith(FIXED) and f.image("b").endswith(FIXED)
    assert annotation(f.workload("a"), f.domain, FAILED_CONFIG_SHA) is None


def test_the_hpa_changing_replicas_is_left_alone(fleet: Any, cluster: Cluster) -> None:
    f = fleet()
    f.write("web: {min_instances: 2, max_instances: 6}\n", {f"{CLUSTER}.web": GOOD})
    f.cycle()
    assert f.workload("web")["spec"]["replicas"] == 2
    cluster.apply({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": f"{f.service}-web", "namespace": f.namespace},
                   "spec": {"replicas": 5}}, field_manager="horizontal-pod-autoscaler")
    result = f.cycle()
    assert action(result, "web").action == "noop" and result.requests["writes"] == 0
    assert f.workload("web")["spec"]["replicas"] == 5


def test_stop_and_start(fleet: Any) -> None:
    f = fleet()
    instances = "web: {instances: 3}\nauto: {min_instances: 2, max_instances: 4}\n"
    groups = {f"{CLUSTER}.web": GOOD, f"{CLUSTER}.auto": GOOD}
    f.write(instances, groups)
    f.cycle()
    f.write(instances, groups, controls={"web": "stop", "auto": "stop"})
    stopped = f.cycle()
    assert action(stopped, "web").action == "scale" and action(stopped, "auto").action == "scale"
    hpa = action(stopped, "auto", "HorizontalPodAutoscaler")
    assert hpa.action == "delete" and "no longer has a HorizontalPodAutoscaler" in hpa.reason
    assert f.workload("web")["spec"]["replicas"] == 0 and f.workload("auto")["spec"]["replicas"] == 0
    with pytest.raises(NotFound):
        f.cluster.get("HorizontalPodAutoscaler", f"{f.service}-auto", f.namespace)
    assert f.cycle().requests["writes"] == 0

    f.write(instances, groups, controls={"web": "start", "auto": "start"})
    started = f.cycle()
    assert action(started, "web").action == "scale" and action(started, "auto").action == "scale"
    assert action(started, "auto", "HorizontalPodAutoscaler").action == "create"
    assert f.workload("web")["spec"]["replicas"] == 3 and f.workload("auto")["spec"]["replicas"] == 2
    managers = {e["manager"] for e in f.workload("auto")["metadata"]["managedFields"]
                if "f:replicas" in json.dumps(e.get("fieldsV1", {}))}
    assert "reconciler" not in managers  # the HPA owns replicas again, not the reconciler
    assert f.cycle().requests["writes"] == 0


def test_a_competing_writer_replacing_an_object_meets_a_conflict_and_a_reread(fleet: Any, cluster: Cluster) -> None:
    f = fleet(prune=True)
    f.write("a: {instances: 1}\nb: {instances: 1}\nc: {instances: 1}\n",
            {f"{CLUSTER}.a": GOOD, f"{CLUSTER}.b": GOOD, f"{CLUSTER}.c": GOOD})
    f.cycle()
    f.write("a: {instances: 1}\nb: {instances: 1}\n", {f"{CLUSTER}.a": GOOD, f"{CLUSTER}.b": GOOD})
    wanted = wanted_on(f.revision().view(), CLUSTER)
    live = [o for o in list_live(cluster, f.policy) if o["metadata"].get("namespace") in (None, f.namespace)
            and o["kind"] != "Namespace"]
    planned = plan(Wanted(wanted.objects), live, f.policy)
    doomed = [a for a in planned.actions if a.action == "delete"]
    assert {(a.kind, a.instance) for a in doomed} == {("Deployment", "c"), ("PodDisruptionBudget", "c")}

    # Another writer deletes and recreates c's PDB between our listing and our delete: the uid
    # precondition fails (409), the object is read again, and the managed one now there goes.
    pdb = cluster.get("PodDisruptionBudget", f"{f.service}-c", f.namespace)
    cluster.delete("PodDisruptionBudget", f"{f.service}-c", f.namespace)
    fresh = {k: pdb[k] for k in ("apiVersion", "kind", "spec")}
    fresh["metadata"] = {k: pdb["metadata"][k] for k in ("name", "namespace", "labels")}
    cluster.apply(fresh, field_manager="someone-else")
    # ...and replaces c's Deployment by an unmanaged one of the same name: never touched.
    work = cluster.get("Deployment", f"{f.service}-c", f.namespace)
    cluster.delete("Deployment", f"{f.service}-c", f.namespace)
    unmanaged = {"apiVersion": "apps/v1", "kind": "Deployment",
                 "metadata": {"name": work["metadata"]["name"], "namespace": f.namespace, "labels": {"team": "x"}},
                 "spec": {"replicas": 0, "selector": work["spec"]["selector"], "template": work["spec"]["template"]}}
    cluster.apply(unmanaged, field_manager="someone-else")

    outcomes = {o.action.kind: o for o in execute(cluster, planned, f.policy) if o.action.action == "delete"}
    assert outcomes["PodDisruptionBudget"].ok
    with pytest.raises(NotFound):
        cluster.get("PodDisruptionBudget", f"{f.service}-c", f.namespace)
    assert not outcomes["Deployment"].ok and "unmanaged" in (outcomes["Deployment"].error or "")
    assert cluster.get("Deployment", f"{f.service}-c", f.namespace)["metadata"]["labels"] == {"team": "x"}
