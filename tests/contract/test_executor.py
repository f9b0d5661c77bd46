"""Carrying out plans on both backends: creates, zero writes when nothing changed, initial
replicas of autoscaled workloads, per-object failures, collisions, dry runs, prune with uids."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from reconciler.cluster.protocol import Cluster
from reconciler.engine.actions import Desired, Wanted
from reconciler.engine.plan import plan
from reconciler.engine.policy import Policy
from reconciler.reconcile.apply import execute
from reconciler.reconcile.observe import LISTED_KINDS, list_live
from tests.helpers import render

DOMAIN = "paasta.yelp.com"
NS = f"paastasvc-exec-{uuid.uuid4().hex[:6]}"
TREE = f"""
main: {{instances: 2, namespace: {NS}}}
auto: {{min_instances: 3, max_instances: 9, namespace: {NS}}}
worker: {{instances: 1, bounce_method: downthenup, namespace: {NS}}}
"""


def desired(k8s: str = TREE, names: tuple[str, ...] = ("main", "auto", "worker"), **kw: object) -> list[Desired]:
    return [Desired(obj, "svc", name) for name in names for obj in render(k8s, name, **kw).objects]


def cycle(cluster: Cluster, wanted: list[Desired], **options: Any):  # type: ignore[no-untyped-def]
    policy = Policy(cluster.name, DOMAIN, **options)
    planned = plan(Wanted(wanted), list_live(cluster, policy), policy)
    return planned, execute(cluster, planned, policy)


@pytest.fixture(autouse=True)
def clean(cluster: Cluster):  # type: ignore[no-untyped-def]
    """Each test starts without the namespace (the real control plane lives for the session)."""
    yield
    try:
        cluster.delete("Namespace", NS)
    except Exception:  # noqa: BLE001 - cleanup only
        pass
    from reconciler.cluster.errors import NotFound
    from tests.contract.conftest import wait_for

    def gone() -> bool:
        try:
            cluster.get("Namespace", NS)
        except NotFound:
            return True
        return False

    wait_for(gone, timeout=60, what="namespace deletion")


def test_first_cycle_creates_second_makes_zero_writes(cluster: Cluster) -> None:
    first, outcomes = cycle(cluster, desired())
    assert first.summary()["create"] == 8 and all(o.ok for o in outcomes)  # ns + 3 workloads + 3 PDB + 1 HPA
    before = cluster.counters.snapshot()
    second, outcomes = cycle(cluster, desired())
    assert second.summary()["noop"] == 8 and outcomes == []
    after = cluster.counters.snapshot()
    assert after["writes"] == before["writes"]
    assert after["reads"] - before["reads"] == len(LISTED_KINDS)  # one LIST per kind (and no page beyond the first)


def test_autoscaled_workload_starts_at_min_and_is_never_reset(cluster: Cluster) -> None:
    cycle(cluster, desired())
    live = cluster.get("Deployment", "svc-auto", NS)
    assert live["spec"]["replicas"] == 3
    managers = {f["manager"] for f in live["metadata"]["managedFields"]}
    assert "reconciler-initial-replicas" in managers
    cluster.apply({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "svc-auto", "namespace": NS}, "spec": {"replicas": 6}},
                  field_manager="horizontal-pod-autoscaler")  # the HPA scaling it
    changed = TREE.replace("max_instances: 9", "max_instances: 9, cpus: 2")
    planned, outcomes = cycle(cluster, desired(changed))
    assert {a.action for a in planned.actions if a.name == "svc-auto" and a.kind == "Deployment"} == {"update"}
    assert all(o.ok for o in outcomes)
    assert cluster.get("Deployment", "svc-auto", NS)["spec"]["replicas"] == 6


def test_unmanaged_object_of_the_same_name_is_never_touched(cluster: Cluster) -> None:
    cycle(cluster, desired(names=("main",)))
    theirs = render(TREE, "worker").objects[1]
    theirs = {**theirs, "metadata": {**theirs["metadata"], "labels": {"owner": "someone-else"}}}
    cluster.apply(theirs, field_manager="kubectl")
    planned, outcomes = cycle(cluster, desired(names=("main", "worker")))
    # the planner never saw it (it lists managed objects), so the executor's own check stops it
    [create] = [o for o in outcomes if o.action.name == "svc-worker" and o.action.kind == "Deployment"]
    assert not create.ok and "unmanaged" in (create.error or "")
    live = cluster.get("Deployment", "svc-worker", NS)
    assert live["metadata"]["labels"] == {"owner": "someone-else"}


def test_dry_run_writes_nothing(cluster: Cluster) -> None:
    policy = Policy("sim", DOMAIN)
    planned = plan(Wanted(desired()), list_live(cluster, policy), policy)
    before = cluster.counters.snapshot()
    outcomes = execute(cluster, planned, policy, dry_run=True)
    after = cluster.counters.snapshot()
    assert outcomes and all(o.ok for o in outcomes)
    assert after["writes"] == before["writes"] and after["dry_runs"] > before["dry_runs"]
    assert cluster.list("Deployment", selector=f"{DOMAIN}/managed=true") == []


def test_prune_deletes_what_git_dropped(cluster: Cluster) -> None:
    cycle(cluster, desired())
    planned, outcomes = cycle(cluster, desired(names=("main", "auto")), prune=True)
    deleted = sorted((o.action.kind, o.action.name) for o in outcomes if o.action.action == "delete")
    assert deleted == [("Deployment", "svc-worker"), ("PodDisruptionBudget", "svc-worker")]
    assert all(o.ok for o in outcomes)
    names = sorted(d["metadata"]["name"] for d in cluster.list("Deployment", namespace=NS))
    assert names == ["svc-auto", "svc-main"]
