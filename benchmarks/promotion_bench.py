#!/usr/bin/env python3
"""What promotion costs and how long a step takes, measured.

    .venv/bin/python benchmarks/promotion_bench.py [--services 1000] [--tags 300] [--rounds 3]

1. The decision (pure): SERVICES services with a four-step pipeline, each repository holding TAGS
   deploy tags: parsing the tags into per-group histories and deciding the release, per service
   (what the promoter does every `promotion.interval` for every service with a pipeline).
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

from reconciler.daemon.promotion import histories  # noqa: E402
from reconciler.engine.release import HEALTHY, GroupHealth, Stage, release  # noqa: E402


def decision_figures(services: int, tags_per_service: int) -> dict[str, float]:
    pipeline = (Stage("canary", ("canary",)), Stage("stage", ("stage",)),
                Stage("prod", ("prod.a", "prod.b")), Stage("eu", ("eu",), manual=True))
    groups = [g for s in pipeline for g in s.groups]
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    repos = []
    for n in range(services):
        tags = {}
        for i in range(tags_per_service):
            group = groups[i % len(groups)]
            stamp = (start + timedelta(minutes=i)).strftime("%Y%m%dT%H%M%S")
            tags[f"paasta-{group}-{stamp}-deploy"] = f"{n:08x}{i // len(groups):032x}"
        repos.append(tags)
    health = {g: GroupHealth(HEALTHY) for g in groups}
    now = datetime.now(timezone.utc)
    started = time.perf_counter()
    for tags in repos:
        history = histories(tags, groups)
        assert release(f"svc{len(tags)}", pipeline, history, health, now=now) is not None
    total = time.perf_counter() - started
    return {"per_service_ms": total / services * 1000, "total_s": total}


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
    print(f"decision, {args.services} services x {args.tags} tags: {figures['per_service_ms']:.3f} ms per service "
          f"({figures['total_s']:.2f} s in all)")
    rounds = release_figures(args.rounds)
    for key in ("tag_to_canary_synced", "canary_synced_to_promoted", "promoted_to_synced"):
        values = [r[key] for r in rounds]
        print(f"{key}: median {statistics.median(values):.2f} s (best {min(values):.2f}, worst {max(values):.2f})")


if __name__ == "__main__":
    main()
