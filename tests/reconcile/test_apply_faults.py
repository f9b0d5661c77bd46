"""A 5xx in the middle of an apply (fault injection of the simulated cluster): that one object
fails, the others are applied, and the next cycle finishes the job without duplicates."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.cluster.sim.backend import SimCluster
from reconciler.engine.actions import Desired, Wanted
from reconciler.engine.plan import plan
from reconciler.engine.policy import Policy
from reconciler.reconcile.apply import execute
from reconciler.reconcile.observe import list_live
from tests.helpers import render

DOMAIN = "paasta.yelp.com"
TREE = """
main: {instances: 2}
auto: {min_instances: 3, max_instances: 9}
worker: {instances: 1, bounce_method: downthenup}
"""


def desired(names: tuple[str, ...] = ("main", "auto", "worker")) -> list[Desired]:
    return [Desired(obj, "svc", name) for name in names for obj in render(TREE, name).objects]


def cycle(cluster: SimCluster, wanted: list[Desired]):  # type: ignore[no-untyped-def]
    policy = Policy(cluster.name, DOMAIN)
    planned = plan(Wanted(wanted), list_live(cluster, policy), policy)
    return planned, execute(cluster, planned, policy)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SimCluster]:
    sim = SimCluster("sim", tmp_path / "sim.sqlite", pod_ready_seconds=0.05)
    yield sim
    sim.close()


def test_one_failure_does_not_stop_the_others_and_the_next_cycle_finishes(cluster: SimCluster) -> None:
    cycle(cluster, desired(names=("main",)))  # namespace and main exist
    policy = Policy("sim", DOMAIN)
    planned = plan(Wanted(desired()), list_live(cluster, policy), policy)
    cluster.faults.fail_next(1, status=503)  # the first write of this apply fails
    outcomes = execute(cluster, planned, policy)
    failed = [o for o in outcomes if not o.ok]
    assert len(failed) == 1 and "503" in (failed[0].error or "")
    assert len(outcomes) - len(failed) >= 4
    planned, outcomes = cycle(cluster, desired())
    assert all(o.ok for o in outcomes) and outcomes
    assert sorted(d["metadata"]["name"] for d in cluster.list("Deployment", namespace="paastasvc-svc")) == \
        ["svc-auto", "svc-main", "svc-worker"]
    assert cycle(cluster, desired())[0].summary()["noop"] == 8
