#!/usr/bin/env python3
"""What promotion costs and how long a step takes, measured.

    .venv/bin/python benchmarks/promotion_bench.py [--services 1000] [--tags 300] [--rounds 3]

1. The decisions: SERVICES services with a four-step pipeline, each repository holding TAGS deploy
   tags, on two clusters: parsing the tags into per-group histories (once per read), and one
   promoter run over every service (what it does every `promotion.interval`).
2. A release on two embedded clusters as the daemon runs it (`reconciler run`, pods ready after
   0.5 s, poll, generate and promotion every 1 s): from the canary's deploy tag to the canary
   Synced, to the next step's tag pushed by the daemon, to that step Synced. ROUNDS releases.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reconciler.daemon.promotion import Observed, histories  # noqa: E402
from reconciler.engine.release import Stage, release  # noqa: E402
from reconciler.render.service import Outcome, RenderResult  # noqa: E402
from reconciler.report.status import Row  # noqa: E402


def decision_figures(services: int, tags_per_service: int) -> dict[str, float]:
    """Parsing each repository's tags (once per read: every generate_interval) and one promoter
    run's decisions over every service (every promotion.interval): the rows of two clusters
    indexed once, each group's health, the release."""
    pipeline = (Stage("canary", ("canary",)), Stage("stage", ("stage",)),
                Stage("prod", ("prod.a", "prod.b")), Stage("eu", ("eu",), manual=True))
    groups = tuple(g for s in pipeline for g in s.groups)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    repos, results, rows = {}, [], {"east": [], "west": []}
    for n in range(services):
        service = f"svc{n:05d}"
        tags = {}
        for i in range(tags_per_service):
            group = groups[i % len(groups)]
            stamp = (start + timedelta(minutes=i)).strftime("%Y%m%dT%H%M%S")
            tags[f"paasta-{group}-{stamp}-deploy"] = f"{n:08x}{i // len(groups):032x}"
        repos[service] = tags
        for g, group in enumerate(groups):
            cluster = ("east", "west")[g % 2]
            results.append(RenderResult(service, group, cluster, Outcome.RENDERED, deploy_group=group))
            rows[cluster].append(Row(cluster, service, group, "Synced", desired={"git_sha": "x" * 40},
                                     deploy_group=group))
    pipelines = {s: pipeline for s in repos}
    started = time.perf_counter()
    parsed = {s: histories(tags, groups) for s, tags in repos.items()}
    parse = time.perf_counter() - started
    now = datetime.now(timezone.utc)
    started = time.perf_counter()
    observed = Observed.of(results, pipelines, rows, {"east": True, "west": True})
    for service, history in parsed.items():
        first = release(service, pipeline, history, {}, now=now)
        assert first is not None
        health = {g: observed.health(service, g, first.sha) for g in groups}
        assert release(service, pipeline, history, health, now=now) is not None
    run = time.perf_counter() - started
    return {"parse_ms": parse / services * 1000, "run_ms": run / services * 1000, "run_s": run,
            "rows": sum(len(r) for r in rows.values())}


def release_figures(rounds: int) -> list[dict[str, float]]:
    from tests.e2e.test_promotion import Fleet

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        fleet = Fleet(Path(tmp))
        try:
            daemon, _ = fleet.start()
            for n in range(rounds):
                sha = fleet.commit(f"round {n}")
                tagged = time.monotonic()
                fleet.tag("canary", sha)
                daemon.wait_for(lambda: fleet.at(daemon, sha, ("east", "canary")), "canary Synced", 120)
                canary = time.monotonic()
                daemon.wait_for(lambda: fleet.tags("east", sha), "east promoted", 120)
                promoted = time.monotonic()
                daemon.wait_for(lambda: fleet.at(daemon, sha, ("east", "main")), "east Synced", 120)
                synced = time.monotonic()
                out.append({"tag_to_canary_synced": canary - tagged, "canary_synced_to_promoted": promoted - canary,
                            "promoted_to_synced": synced - promoted})
                daemon.wait_for(lambda: fleet.state(daemon, "gated", sha), "the gate", 60)
        finally:
            fleet.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--tags", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    figures = decision_figures(args.services, args.tags)
    print(f"tags parsed, {args.services} services x {args.tags} tags: {figures['parse_ms']:.3f} ms per service "
          "(once per read)")
    print(f"one promoter run, {args.services} services, {figures['rows']} rows: {figures['run_ms']:.3f} ms per "
          f"service ({figures['run_s']:.2f} s in all)")
    rounds = release_figures(args.rounds)
    for key in ("tag_to_canary_synced", "canary_synced_to_promoted", "promoted_to_synced"):
        values = [r[key] for r in rounds]
        print(f"{key}: median {statistics.median(values):.2f} s (best {min(values):.2f}, worst {max(values):.2f})")


if __name__ == "__main__":
    main()
