"""Releases through deploy.yaml, driven by the daemon the way a team uses it: a deploy tag on the first
step, the daemon's promotions (real tags pushed to a bare repository), a manual gate lifted with
`reconciler promote`, a failing canary rolled back by tag, a freeze that holds and then lets go,
and a daemon killed mid-release. Two embedded clusters; one pipeline on the real control plane.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import git
import pytest

from reconciler.cluster.protocol import Cluster
from reconciler.sources.generate import list_tags
from reconciler.sources.tags import parse_deploy_tag
from tests.conftest import REPO
from tests.support.daemon import DaemonProcess
from tests.support.gitremote import GitRemote
from tests.support.world import World, deploy_tag

PIPELINE = """pipeline:
- step: itest
- step: canary
  auto_rollback: true
- step: east
  trigger_next_step_manually: true
- step: west
"""
GROUPS = ("canary", "east", "west")


def cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reconciler.cli.main", *argv], capture_output=True, text=True,
                          cwd=REPO, env=os.environ, timeout=180)


class Fleet:
    """soa-configs and the `web` repository on disk, two embedded clusters (east runs the canary
    and the east group, west the west group), a reconciler.yaml with promotion on, and daemons."""

    def __init__(self, root: Path) -> None:
        self.root = root
        remotes = root / "remotes"
        remotes.mkdir(parents=True)
        self.soa = GitRemote(remotes, "soa-configs")
        self.soa.commit({"web/service.yaml": "description: web\n",
                         "web/deploy.yaml": PIPELINE,
                         "web/kubernetes-east.yaml": "canary: {instances: 1, deploy_group: canary}\n"
                                                     "main: {instances: 2, deploy_group: east}\n",
                         "web/kubernetes-west.yaml": "main: {instances: 2, deploy_group: west}\n"}, message="web")
        self.repo = GitRemote(remotes, "web")
        self.repo.commit({"README": "web\n"}, message="first")
        self.config = root / "reconciler.yaml"
        self.config.write_text(f"""
soa_configs: {{repo: {self.soa.url}, poll_interval: 1s}}
service_repos:
  url_template: "{remotes.as_uri()}/{{service}}.git"
  generate_interval: 1s
clusters:
  east: {{sim: {{state: {root / 'east.sqlite'}, pod_ready_seconds: 0.5}}, rollout: {{max_unavailable_fraction: 1.0}}}}
  west: {{sim: {{state: {root / 'west.sqlite'}, pod_ready_seconds: 0.5}}, rollout: {{max_unavailable_fraction: 1.0}}}}
promotion: {{enabled: true, interval: 1s}}
state_dir: {root / 'state'}
""")
        self.daemons: list[DaemonProcess] = []
        self.clusters: dict[str, Cluster] = {}

    def commit(self, readme: str) -> str:
        return self.repo.commit({"README": readme}, message=readme)

    def tag(self, group: str, sha: str, when: datetime | None = None, version: str | None = None) -> str:
        stamp = (when or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%S")
        name = f"paasta-{group}{'+' + version if version else ''}-{stamp}-deploy"
        self.repo.tag(name, sha)
        return name

    def tags(self, group: str, sha: str | None = None) -> list[str]:
        """The deploy tags of `group` (on `sha`), oldest first."""
        found = [(parse_deploy_tag(n, GROUPS), n, s) for n, s in list_tags(self.repo.url).items()]
        return sorted(n for t, n, s in found if t is not None and t.deploy_group == group and sha in (None, s))

    def daemon(self, *args: str) -> DaemonProcess:
        process = DaemonProcess(self.config, self.root / f"daemon{len(self.daemons)}.log", "--reconcile-interval",
                                "0.5", *args)
        self.daemons.append(process)
        return process.start()

    def release(self, daemon: DaemonProcess) -> dict[str, Any] | None:
        doc = daemon.get("/api/v1/releases?service=web")
        return doc["releases"][0] if isinstance(doc, dict) and doc.get("releases") else None

    def at(self, daemon: DaemonProcess, sha: str, *where: tuple[str, str]) -> bool:
        """Every (cluster, instance) of `where` Synced at `sha`."""
        rows = {(r["cluster"], r["instance"]): r for r in daemon.drift()["instances"] if r["service"] == "web"}
        return all((row := rows.get(w)) is not None and row["status"] == "Synced"
                   and (row["live"] or {}).get("git_sha") == sha for w in where)

    def state(self, daemon: DaemonProcess, state: str, sha: str) -> dict[str, Any] | None:
        found = self.release(daemon)
        return found if found is not None and found["state"] == state and found["sha"] == sha else None

    def start(self) -> tuple[DaemonProcess, str]:
        """Every group deployed at a first sha (tags in the past) and the daemon settled on it."""
        first = self.commit("one")
        early = datetime.now(timezone.utc) - timedelta(minutes=5)
        for i, group in enumerate(GROUPS):
            self.tag(group, first, early + timedelta(seconds=i))
        daemon = self.daemon()
        daemon.wait_for(lambda: self.at(daemon, first, ("east", "canary"), ("east", "main"), ("west", "main")),
                        "every group Synced at the first sha", 120)
        daemon.wait_for(lambda: self.state(daemon, "complete", first), "the first release complete", 30)
        return daemon, first

    def close(self) -> None:
        for daemon in self.daemons:
            daemon.stop()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    made = Fleet(tmp_path)
    yield made
    made.close()


def test_a_release_moves_through_three_steps_on_two_clusters_with_a_manual_gate(fleet: Fleet) -> None:
    daemon, first = fleet.start()
    second = fleet.commit("two")
    fleet.tag("canary", second)
    # canary healthy -> the daemon pushes east's tag; after east the gate holds west
    daemon.wait_for(lambda: fleet.state(daemon, "gated", second), "the release gated before west", 120)
    assert fleet.at(daemon, second, ("east", "canary"), ("east", "main"))
    assert fleet.at(daemon, first, ("west", "main"))
    assert len(fleet.tags("east", second)) == 1 and fleet.tags("west", second) == []
    gated = fleet.release(daemon)
    assert gated is not None and "reconciler promote web --to west" in gated["message"]
    assert [(s["step"], s["state"]) for s in gated["steps"]] == [("canary", "healthy"), ("east", "healthy"),
                                                                ("west", "gated")]
    time.sleep(3)  # the gate holds: nothing is pushed by the daemon
    assert fleet.tags("west", second) == []

    promoted = cli("promote", "web", "--to", "west", "--config", str(fleet.config), "-o", "json")
    assert promoted.returncode == 0, promoted.stderr
    assert len(json.loads(promoted.stdout)["tags"]) == 1
    again = cli("promote", "web", "--to", "west", "--config", str(fleet.config))
    assert again.returncode == 1 and "already runs" in again.stdout
    daemon.wait_for(lambda: fleet.state(daemon, "complete", second), "the release complete", 120)
    assert fleet.at(daemon, second, ("west", "main"))
    promotions = [e for e in daemon.logs() if e.get("event") == "promoted"]
    assert [(e["step"], e["sha"]) for e in promotions] == [("east", second)]
    metrics = daemon.get("/metrics")
    assert 'reconciler_promotions_total{result="promoted",service="web",step="east"} 1.0' in metrics
    assert 'reconciler_promotions_total{result="gated",service="web",step="west"} 1.0' in metrics
    page = daemon.get("/")
    assert 'data-service="web" data-state="complete"' in page and "west: healthy" in page


def test_a_failing_canary_halts_the_release_and_rolls_it_back_by_tag(fleet: Fleet) -> None:
    daemon, first = fleet.start()
    bad = fleet.commit("bad")
    fleet.tag("canary", bad, version="crashloop")  # its image never gets ready
    rolled = daemon.wait_for(lambda: fleet.state(daemon, "rolled_back", bad), "the release rolled back", 150)
    assert "canary" in rolled["message"]
    canary = fleet.tags("canary")
    assert len(canary) == 3 and fleet.tags("canary", first)[-1] == canary[-1]  # the rollback is a deploy tag
    assert fleet.tags("east", bad) == [] and fleet.tags("west", bad) == []  # never promoted
    daemon.wait_for(lambda: fleet.at(daemon, first, ("east", "canary")), "the canary back on the first sha", 120)
    events = [e["event"] for e in daemon.logs()]
    assert events.count("release rolled back") == 1
    assert 'result="rolled_back",service="web",step="canary"} 1.0' in daemon.get("/metrics")


def test_a_freeze_holds_a_bounce_and_a_promotion_then_lets_them_go(fleet: Fleet) -> None:
    daemon, first = fleet.start()
    config = str(fleet.config)
    frozen = cli("freeze", "--config", config, "--cluster", "east", "--name", "deploy-freeze", "--reason", "change freeze")
    assert frozen.returncode == 0, frozen.stderr
    second = fleet.commit("two")
    fleet.tag("canary", second)
    row = daemon.wait_for(lambda: next((r for r in daemon.drift()["instances"] if r["instance"] == "canary"
                                        and r["status"] == "Frozen"), None), "the canary's bounce Frozen", 60)
    assert row["message"].startswith("Frozen (deploy-freeze until unfrozen)")
    assert row["desired"]["git_sha"] == second and row["live"]["git_sha"] == first
    holding = [e for e in daemon.logs() if e.get("event") == "freeze holding changes"]
    assert [(e["cluster"], e["freeze"]) for e in holding] == [("east", "deploy-freeze")]
    listed = cli("freezes", "--config", config, "-o", "json")
    assert [f["name"] for f in json.loads(listed.stdout)["freezes"]["east"]] == ["deploy-freeze"]
    time.sleep(2)  # held: nothing rolls out, nothing is promoted
    assert fleet.tags("east", second) == [] and daemon.row("web", "canary", "east")["status"] == "Frozen"
    # a second freeze lets bounces through but holds promotions, for a few seconds; the first is lifted
    assert cli("freeze", "--config", config, "--cluster", "east", "--for", "8s", "--allow", "bounce",
               "--name", "promotion-hold").returncode == 0
    assert cli("unfreeze", "--config", config, "--name", "deploy-freeze").returncode == 0
    held = daemon.wait_for(lambda: fleet.state(daemon, "frozen", second), "the promotion to east held", 60)
    assert "promotion-hold" in held["message"] and fleet.tags("east", second) == []
    assert fleet.at(daemon, second, ("east", "canary"))
    # the freeze ends by itself: the release goes on to east, then waits at the gate
    daemon.wait_for(lambda: fleet.state(daemon, "gated", second), "the release past the freeze", 120)
    assert len(fleet.tags("east", second)) == 1
    metrics = daemon.get("/metrics")
    assert 'result="frozen",service="web",step="east"} 1.0' in metrics
    assert 'reconciler_instances{cluster="east",status="Frozen"} 0.0' in metrics
    assert any(e.get("event") == "freeze no longer holding changes" for e in daemon.logs())


def test_a_daemon_killed_mid_release_resumes_without_a_second_promotion(fleet: Fleet) -> None:
    daemon, first = fleet.start()
    second = fleet.commit("two")
    fleet.tag("canary", second)
    daemon.wait_for(lambda: fleet.tags("east", second), "east promoted", 120)
    daemon.signal(signal.SIGKILL)
    # two replicas come up together: one promoter, and the release goes on from git and the clusters
    replicas = [fleet.daemon(), fleet.daemon()]
    replicas[0].wait_for(lambda: fleet.state(replicas[0], "gated", second), "the release resumed up to the gate", 120)
    replicas[1].wait_for(lambda: fleet.state(replicas[1], "gated", second), "the second replica's view", 60)
    time.sleep(3)
    assert len(fleet.tags("east", second)) == 1
    pushes = [e for r in replicas for e in r.logs() if e.get("event") == "promoted"]
    assert pushes == []  # the push happened before the kill; nobody pushed it again
    leaders = [e for r in replicas for e in r.logs() if e.get("event") == "promotion lease acquired"]
    assert len(leaders) == 1


@pytest.mark.kube
def test_a_pipeline_of_two_deploy_groups_on_the_real_control_plane(tmp_path: Path,
                                                                     kube_controlplane: Any) -> None:
    from reconciler.cluster.kube.backend import KubeCluster

    cluster = KubeCluster.from_kubeconfig("local", str(kube_controlplane.kubeconfig))
    world = World(tmp_path, f"    kubeconfig: {kube_controlplane.kubeconfig}", cluster)
    world.config.write_text(world.config.read_text() + "promotion: {enabled: true, interval: 1s}\n")
    try:
        world.soa.commit({"web/deploy.yaml": "pipeline:\n- step: canary\n- step: prod\n"}, message="pipeline")
        world.service("web", "canary: {instances: 1, deploy_group: canary}\nmain: {instances: 2, deploy_group: prod}\n")
        early = datetime.now(timezone.utc) - timedelta(minutes=3)
        first = world.deploy("web", "canary", early)
        world.services["web"].tag(deploy_tag("prod", early + timedelta(seconds=1)), first)
        daemon = world.daemon()
        daemon.wait_for(lambda: world.synced(daemon, "web", "main", first) and world.synced(daemon, "web", "canary", first),
                        "both groups Synced at the first sha", 120)
        second = world.deploy("web", "canary")
        daemon.wait_for(lambda: world.synced(daemon, "web", "main", second), "prod promoted and Synced", 150)
        tags = git.Git().ls_remote("--tags", world.services["web"].url).splitlines()
        assert sum(1 for line in tags if line.startswith(second) and "paasta-prod-" in line) == 1
        assert world.synced(daemon, "web", "canary", second)
        doc = daemon.get("/api/v1/releases")
        daemon.wait_for(lambda: (daemon.get("/api/v1/releases") or {}).get("releases", [{}])[0].get("state")
                        == "complete", "the release complete", 60)
        assert doc["releases"][0]["sha"] == second
    finally:
        world.close()
        cluster.close()
