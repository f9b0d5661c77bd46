"""The recorded real-server scenarios replayed through SimCluster (storage, namespaces, versions)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from reconciler.cluster.errors import ClusterError
from reconciler.cluster.sim import ManualClock, SimCluster
from tests.cluster.sim.conftest import START
from tests.cluster.sim.golden.scenarios import reduce


def test_scenarios_through_the_backend(golden: dict[str, Any], tmp_path: Path) -> None:
    clock = ManualClock(START)
    sim = SimCluster("golden", tmp_path / "golden.sqlite", clock=clock)
    for name, scenario in golden["scenarios"].items():
        namespace = "golden-" + name.replace("_", "-")
        sim.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        for index, (step, real) in enumerate(zip(scenario["steps"], scenario["results"])):
            clock.advance(1)
            obj = copy.deepcopy(step["object"])
            meta = obj["metadata"]
            if obj["kind"] != "Namespace":
                meta["namespace"] = step.get("namespace", namespace)
            try:
                before = sim.get(obj["kind"], meta["name"], meta.get("namespace"))["metadata"]["resourceVersion"]
            except ClusterError:
                before = None
            try:
                out = sim.apply(obj, field_manager=step["manager"], force=step["force"],
                                dry_run=bool(step.get("dry_run")))
            except ClusterError as err:
                assert (err.status, str(err)) == (real["code"], real["message"]), (name, index)
                continue
            assert "code" in real and real["code"] < 300, (name, index, real)
            assert reduce(out) == real["object"], (name, index)
            assert (out["metadata"].get("resourceVersion") != before) == real["rv_changed"], (name, index)
            assert sorted(out["metadata"]) == real["meta_keys"], (name, index)
    sim.close()
