#!/usr/bin/env python3
"""The daemon's latencies, measured the way a user meets them.

    .venv/bin/python benchmarks/daemon_bench.py [--services 1000] [--rounds 5]

1. A poll that finds nothing new, on a soa-configs repository of SERVICES services
   (benchmarks/gen_tree.py, committed into a bare repository reached by file://): the median of
   ROUNDS polls, with proof that nothing was re-rendered (no fresh snapshot, no changed service).
2. A deploy tag pushed to a service repository until the instance is Synced on the new sha,
   with 1 s polling (generate_interval and poll_interval 1 s) and with a signed webhook naming
   the service repository: `reconciler run` as a real process on the simulated cluster
   (pod_ready_seconds 0.1, so that the figure is the reconciler's, not a pretend start-up time).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reconciler.config import SourceConfig  # noqa: E402
from reconciler.sources.poll import SourcePoller  # noqa: E402
from tests.support.daemon import DaemonProcess  # noqa: E402
from tests.support.gitremote import GitRemote  # noqa: E402

SECRET = "bench-secret"


def poll_figures(root: Path, services: int, rounds: int) -> dict[str, float]:
    tree = root / "tree"
    subprocess.run([sys.executable, str(REPO / "benchmarks/gen_tree.py"), "--out", str(tree), "--services",
                    str(services), "--clusters", "norcal-prod"], check=True, stdout=subprocess.DEVNULL)
    remote = GitRemote(root / "remotes", "soa-configs")
    work = remote.path()
    for entry in tree.iterdir():
        shutil.move(str(entry), work / entry.name)
    remote.commit(message="1,000 services")
    poller = SourcePoller(SourceConfig(repo=remote.url), root / "state")
    started = time.perf_counter()
    first = poller.poll()
    first_seconds = time.perf_counter() - started
    assert first.error is None and first.fresh and first.snapshot is not None, first.error
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        again = poller.poll()
        times.append(time.perf_counter() - started)
        assert again.error is None and not again.fresh and again.changed == frozenset(), again
    return {"first": first_seconds, "median": statistics.median(times), "best": min(times)}


def deploy_figures(root: Path, rounds: int) -> dict[str, list[float]]:
    remotes = root / "remotes"
    soa = GitRemote(remotes, "soa-configs")
    soa.commit({"web/service.yaml": "description: web\n",
                "web/kubernetes-local.yaml": "main: {instances: 2, deploy_group: prod}\n"}, message="web")
    web = GitRemote(remotes, "web")
    config = root / "reconciler.yaml"
    config.write_text(f"""
soa_configs: {{repo: {soa.url}, poll_interval: 1s, webhook_secret_env: BENCH_SECRET}}
service_repos:
  url_template: {remotes.as_uri()}/{{service}}.git
  generate_interval: 1s
clusters:
  local:
    sim: {{state: {root / 'sim.sqlite'}, pod_ready_seconds: 0.1}}
state_dir: {root / 'state'}
""")
    daemon = DaemonProcess(config, root / "daemon.log", "--reconcile-interval", "0.5", env={"BENCH_SECRET": SECRET})
    results: dict[str, list[float]] = {"polling": [], "webhook": []}

    def deploy() -> tuple[str, float]:
        sha = web.commit({"README": f"{time.time()}\n"}, message="change")
        web.tag(f"paasta-prod-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S')}-deploy", sha)
        return sha, time.monotonic()

    def synced(sha: str) -> bool:
        row = daemon.row("web", "main")
        return bool(row and row["status"] == "Synced" and (row["live"] or {}).get("git_sha") == sha)

    try:
        first, _ = deploy()
        daemon.start()
        daemon.wait_for(lambda: synced(first), "the first deploy", 120)
        for how in ("polling", "webhook"):
            for _ in range(rounds):
                time.sleep(1.05)  # tag timestamps have one-second resolution: the next tag must be newer
                sha, started = deploy()
                if how == "webhook":
                    body = json.dumps({"repository": {"name": "web"}}).encode()
                    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                    assert daemon.post("/api/v1/hooks/git", body, {"X-Hub-Signature-256": signature}) == 202
                daemon.wait_for(lambda: synced(sha), f"Synced by {how}", 60)
                results[how].append(time.monotonic() - started)
    finally:
        daemon.stop()
    return results


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="daemon-bench-") as tmp:
        root = Path(tmp)
        polls = poll_figures(root / "poll", args.services, args.rounds * 4)
        print(f"poll, {args.services} services, nothing changed: median {polls['median'] * 1000:.1f} ms, "
              f"best {polls['best'] * 1000:.1f} ms (first poll, clone included: {polls['first']:.2f} s); "
              "no re-render")
        deploys = deploy_figures(root / "deploy", args.rounds)
        for how, times in deploys.items():
            print(f"deploy tag pushed -> Synced, {how}: median {statistics.median(times):.2f} s, "
                  f"best {min(times):.2f} s, worst {max(times):.2f} s ({len(times)} rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
