#!/usr/bin/env python3
"""Change detection's listing, measured: 2,000 managed Deployments, listed metadata-only and in full.

    .venv/bin/python benchmarks/list_bench.py                  # both backends (the real one needs Go)
    .venv/bin/python benchmarks/list_bench.py --backend sim --count 10000

For each backend it creates COUNT Deployments (replicas 0, labelled managed) in one namespace,
then lists them by label selector ROUNDS times each way and prints requests, bytes and seconds
(median and best). Bytes: on the wire and decoded for the real API server (gzip is on, as in
client-go); for the simulated cluster, the size of the JSON it returns. The real control plane
is started and stopped by tests/support/controlplane.py (binaries from tools/controlplane).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reconciler.cluster.protocol import Cluster  # noqa: E402

SELECTOR = "bench.example.com/managed=true"


def deployment(i: int, namespace: str) -> dict[str, Any]:
    labels = {"bench.example.com/managed": "true", "bench.example.com/instance": f"i{i}"}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": f"svc-{i:05d}", "namespace": namespace,
                         "labels": {**labels, "bench.example.com/config_sha": f"config{i:08x}"}},
            "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "main", "image": f"registry.example.com/svc:{i}"}]}}}}


def measure(cluster: Cluster, count: int, rounds: int, namespace: str = "bench") -> dict[str, Any]:
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: cluster.apply(deployment(i, namespace)), range(count)))
    created = time.perf_counter() - started
    out: dict[str, Any] = {"backend": cluster.name, "deployments": count, "create_seconds": round(created, 2)}
    for label, metadata_only in (("metadata_only", True), ("full", False)):
        seconds, requests, received, decoded = [], 0, 0, 0
        for _ in range(rounds):
            before = cluster.counters.snapshot()["reads"]
            stats_before = _stats(cluster)
            t = time.perf_counter()
            items = cluster.list("Deployment", selector=SELECTOR, namespace=namespace, metadata_only=metadata_only)
            seconds.append(time.perf_counter() - t)
            assert len(items) == count, (len(items), count)
            requests = cluster.counters.snapshot()["reads"] - before
            stats_after = _stats(cluster)
            if stats_after:
                received = stats_after["bytes_received"] - stats_before["bytes_received"]
                decoded = stats_after["bytes_decoded"] - stats_before["bytes_decoded"]
            else:
                received = decoded = len(json.dumps(items))
        out[label] = {"requests": requests, "bytes_on_wire": received, "bytes_json": decoded,
                      "median_s": round(statistics.median(seconds), 3), "best_s": round(min(seconds), 3)}
    cluster.delete("Namespace", namespace)
    return out


def _stats(cluster: Cluster) -> dict[str, float]:
    stats = getattr(cluster, "stats", None)
    return stats.snapshot() if stats is not None else {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sim", "kube", "both"), default="both")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    results = []
    if args.backend in ("sim", "both"):
        from reconciler.cluster.sim.backend import SimCluster

        with tempfile.TemporaryDirectory() as tmp:
            sim = SimCluster("sim", Path(tmp) / "sim.sqlite")
            results.append(measure(sim, args.count, args.rounds))
            sim.close()
    if args.backend in ("kube", "both"):
        from reconciler.cluster.kube.backend import KubeCluster
        from tests.support.controlplane import ControlPlane

        with tempfile.TemporaryDirectory() as tmp, ControlPlane() as controlplane:
            controlplane.start(Path(tmp) / "cp", nodes=1)
            kube = KubeCluster.from_kubeconfig("kube", str(controlplane.kubeconfig), qps=0)
            results.append(measure(kube, args.count, args.rounds))
            kube.close()
    for result in results:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
