"""One state file, several users: two SimCluster objects, and processes writing at the same time."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

from reconciler.cluster.sim import ManualClock, SimClock, SimCluster
from tests.cluster.sim.conftest import START, deployment
from tests.support.rollout import rollout


def test_two_clusters_on_one_file_see_each_others_writes(state: Path, clock: ManualClock) -> None:
    daemon = SimCluster("local", state, clock=clock, controller_delay=0)
    cli = SimCluster("local", state, clock=clock, controller_delay=0)
    daemon.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})
    created = cli.apply(deployment(replicas=2))
    assert daemon.get("Deployment", "web", "ns")["metadata"]["uid"] == created["metadata"]["uid"]
    clock.advance(1)
    # whichever advances the simulation, both see the same history
    assert rollout(daemon, "Deployment", "web", "ns").complete
    assert cli.get("Deployment", "web", "ns") == daemon.get("Deployment", "web", "ns")
    assert [p["metadata"]["name"] for p in cli.list("Pod", namespace="ns")] == \
        [p["metadata"]["name"] for p in daemon.list("Pod", namespace="ns")]
    cli.delete("Deployment", "web", "ns")
    assert daemon.list("Deployment", namespace="ns", metadata_only=True) == []
    daemon.close()
    cli.close()


def _writer(path: str, worker: int, count: int) -> None:
    sim = SimCluster("local", path, pod_ready_seconds=0.05, clock=SimClock())
    for index in range(count):
        sim.apply(deployment(name=f"w{worker}-{index}", replicas=1))
        sim.list("Deployment", namespace="ns", metadata_only=True)
        sim.apply(deployment(name=f"w{worker}-{index}", replicas=2))
    sim.close()


def test_processes_write_concurrently(state: Path) -> None:
    setup = SimCluster("local", state, clock=ManualClock(START))
    setup.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})
    setup.close()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(str(state), n, 15)) for n in range(3)]
    for proc in workers:
        proc.start()
    for proc in workers:
        proc.join(timeout=120)
        assert proc.exitcode == 0
    sim = SimCluster("local", state, pod_ready_seconds=0.05)
    items = sim.list("Deployment", namespace="ns")
    assert len(items) == 45
    assert all(i["spec"]["replicas"] == 2 and i["metadata"]["generation"] == 2 for i in items)
    everything = [o for kind in ("Namespace", "Deployment", "ReplicaSet", "Pod") for o in sim.list(kind)]
    versions = [int(o["metadata"]["resourceVersion"]) for o in everything]
    assert len(set(versions)) == len(versions)  # one global counter, never reused
    # the controllers act controller_delay after the last write: under load that may be now
    deadline = time.monotonic() + 10
    while len(pods := sim.list("Pod", namespace="ns")) < 90 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(pods) == 90 and len({p["metadata"]["name"] for p in pods}) == 90
    sim.close()


def test_threads_share_one_cluster(state: Path) -> None:
    import threading

    sim = SimCluster("local", state, pod_ready_seconds=0.01)
    sim.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for index in range(10):
                sim.apply(deployment(name=f"t{worker}-{index}", replicas=1))
                sim.list("Pod", namespace="ns")
                sim.get("Deployment", f"t{worker}-{index}", "ns")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(sim.list("Deployment", namespace="ns")) == 40
    assert sim.counters.snapshot()["writes"] == 41
    sim.close()
