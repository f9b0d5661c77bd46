"""The daemon driven the way its users drive it: git pushes, deploy tags, webhooks, signals.

Bare git repositories on disk (file:// URLs) stand for the soa-configs repository and the
service repositories; `reconciler run` runs as a real process; the target is the simulated
cluster or (kube tier) the real control plane. Each test uses its own label domain, so daemons
of different tests never see each other's objects on the shared control plane.
"""

from __future__ import annotations

import hashlib
import hmac
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

import pytest

from reconciler.cluster.protocol import Cluster
from tests.conftest import REPO
from tests.support.world import SECRET, World


@pytest.fixture(params=[pytest.param("sim", id="sim"), pytest.param("kube", id="kube", marks=pytest.mark.kube)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    if request.param == "sim":
        from reconciler.cluster.sim.backend import SimCluster

        state = tmp_path / "sim.sqlite"
        cluster: Cluster = SimCluster("local", state, pod_ready_seconds=0.5)
        yaml = f"    sim: {{state: {state}, pod_ready_seconds: 0.5}}"
    else:
        from reconciler.cluster.kube.backend import KubeCluster

        controlplane = request.getfixturevalue("kube_controlplane")
        cluster = KubeCluster.from_kubeconfig("local", str(controlplane.kubeconfig))
        yaml = f"    kubeconfig: {controlplane.kubeconfig}"
    made = World(tmp_path, yaml, cluster, prune=True)
    yield made
    made.close()
    cluster.close()


def test_a_deploy_tag_becomes_synced_and_the_webhook_is_faster(world: World) -> None:
    world.service("web", "main: {instances: 2, deploy_group: prod}\n")
    first = world.deploy("web", "prod", datetime.now(timezone.utc) - timedelta(minutes=1))
    daemon = world.daemon()
    daemon.wait_for(lambda: world.synced(daemon, "web", "main", first), "web.main Synced on the first sha", 90)
    image = world.workload("web", "main")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.endswith(first)

    # a second deploy, picked up by polling (generate_interval and poll_interval are 1 s)
    started = time.monotonic()
    second = world.deploy("web", "prod")
    daemon.wait_for(lambda: world.synced(daemon, "web", "main", second), "web.main Synced on the second sha", 60)
    polled = time.monotonic() - started

    # a third, announced by a signed webhook naming the service repository
    third = world.deploy("web", "prod", datetime.now(timezone.utc) + timedelta(seconds=2))
    body = json.dumps({"ref": "refs/tags/x", "repository": {"name": "web"}}).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert daemon.post("/api/v1/hooks/git", body, {"X-Hub-Signature-256": "sha256=00"}) == 401
    assert daemon.post("/api/v1/hooks/git", body, {"X-Hub-Signature-256": signature}) == 202
    daemon.wait_for(lambda: world.synced(daemon, "web", "main", third), "web.main Synced on the third sha", 60)
    deployments = [e for e in daemon.logs() if e.get("event") == "deployments committed"]
    assert len(deployments) >= 3 and all(e["services"] == ["web"] for e in deployments)
    print(f"tag push to Synced by polling: {polled:.1f} s")


def test_a_config_change_rerenders_only_that_service(world: World) -> None:
    world.service("web", "main: {instances: 1}\n")
    world.service("api", "main: {instances: 1}\n")
    shas = {s: world.deploy(s, "local.main") for s in ("web", "api")}
    daemon = world.daemon()
    for service, sha in shas.items():
        daemon.wait_for(lambda s=service, h=sha: world.synced(daemon, s, "main", h), f"{service} Synced", 90)
    before = len(daemon.logs())
    world.soa.commit({"api/kubernetes-local.yaml": "main: {instances: 3}\n"}, message="api: 3 instances")
    daemon.wait_for(lambda: (daemon.row("api", "main") or {}).get("live", {}).get("replicas") == 3
                    and daemon.row("api", "main")["status"] == "Synced", "api at 3 replicas", 60)
    rendered = [e for e in daemon.logs()[before:] if e.get("event") == "rendered"]
    assert rendered and all(e["services"] == ["api"] for e in rendered), rendered
    assert world.workload("web", "main")["metadata"]["generation"] == 1  # web untouched


def test_git_unreachable_deletes_nothing_and_recovers(world: World) -> None:
    world.service("web", "main: {instances: 1}\nside: {instances: 1}\n")
    sha = world.deploy("web", "local.main")
    world.deploy("web", "local.side")
    daemon = world.daemon()
    daemon.wait_for(lambda: world.synced(daemon, "web", "side", sha) or world.synced(
        daemon, "web", "main", sha), "web Synced", 90)
    daemon.wait_for(lambda: all(r["status"] == "Synced" for r in daemon.drift()["instances"]), "all Synced", 60)
    world.soa.move_away()
    daemon.wait_for(lambda: daemon.drift()["source"]["error"], "the source error to show", 30)
    assert daemon.get("/readyz") is None  # 503: not ready while the source fails
    time.sleep(3)  # several cycles without git
    assert {r["status"] for r in daemon.drift()["instances"]} == {"Synced"}
    names = {o["metadata"]["name"] for o in world.cluster.list("Deployment", namespace=world.namespace("web"))}
    assert names == {"web-main", "web-side"}
    world.soa.come_back()
    daemon.wait_for(lambda: daemon.drift()["source"]["error"] is None, "the source to recover", 60)
    # a force-pushed branch: the rewritten history is taken as it is
    world.soa.rewrite({"web/kubernetes-local.yaml": "main: {instances: 2}\n"}, message="rewritten")
    daemon.wait_for(lambda: (daemon.row("web", "main") or {}).get("live", {}).get("replicas") == 2,
                    "the force-pushed config", 60)
    # the side instance is gone from git: pruned (prune is on, 1 of 2 workloads is within 0.5)
    daemon.wait_for(lambda: {o["metadata"]["name"] for o in world.cluster.list(
        "Deployment", namespace=world.namespace("web"))} == {"web-main"}, "web.side pruned", 60)


def test_kill_9_mid_rollout_finishes_without_a_second_bounce(world: World) -> None:
    world.service("web", "main: {instances: 4}\n")
    first = world.deploy("web", "local.main", datetime.now(timezone.utc) - timedelta(minutes=1))
    daemon = world.daemon()
    daemon.wait_for(lambda: world.synced(daemon, "web", "main", first), "web Synced", 90)
    second = world.deploy("web", "local.main")
    mark = f"{world.domain}/bounce-started-at"
    started = daemon.wait_for(lambda: (world.workload("web", "main")["metadata"].get("annotations") or {}).get(mark),
                              "the bounce to start", 60)
    assert daemon.signal(signal.SIGKILL) == -signal.SIGKILL
    again = world.daemon()
    again.wait_for(lambda: world.synced(again, "web", "main", second), "web Synced on the new sha", 90)
    assert world.workload("web", "main")["metadata"]["annotations"][mark] == started  # one bounce only


def test_sigterm_stops_gracefully(world: World) -> None:
    world.service("web", "main: {instances: 1}\n")
    sha = world.deploy("web", "local.main")
    daemon = world.daemon()
    daemon.wait_for(lambda: world.synced(daemon, "web", "main", sha), "web Synced", 90)
    assert daemon.signal(signal.SIGTERM) == 0
    events = [e.get("event") for e in daemon.logs()]
    assert "signal received" in events and events[-1] == "daemon stopped"


def test_two_daemons_one_writer_and_takeover(world: World) -> None:
    world.service("web", "main: {instances: 1}\n")
    sha = world.deploy("web", "local.main", datetime.now(timezone.utc) - timedelta(minutes=1))
    timing = ("--lease-duration", "4", "--renew-deadline", "3")
    one = world.daemon(*timing, "--identity", "one")
    two = world.daemon(*timing, "--identity", "two")
    one.wait_for(lambda: world.synced(one, "web", "main", sha), "web Synced", 90)
    two.wait_for(lambda: two.row("web", "main") and two.row("web", "main")["status"] == "Synced",
                 "the second daemon to report too", 60)
    leaders = [d for d in (one, two) if d.drift()["clusters"]["local"]["leader"]]
    assert len(leaders) == 1
    writer, standby = (one, two) if leaders[0] is one else (two, one)
    assert [e for e in writer.logs() if e.get("event") == "applied"]
    assert not [e for e in standby.logs() if e.get("event") == "applied"]
    assert writer.signal(signal.SIGKILL) == -signal.SIGKILL
    newer = world.deploy("web", "local.main")
    standby.wait_for(lambda: world.synced(standby, "web", "main", newer), "the standby to take over", 90)
    assert [e for e in standby.logs() if e.get("event") == "lease acquired"]


def test_sighup_reloads_the_config_and_refuses_a_bad_one(world: World) -> None:
    world.service("web", "main: {instances: 1}\n")
    sha = world.deploy("web", "local.main")
    daemon = world.daemon()
    daemon.wait_for(lambda: world.synced(daemon, "web", "main", sha), "web Synced", 90)
    good = world.config.read_text()
    world.config.write_text(good.replace("clusters:\n  local:\n", "clusters:\n  local:\n    docker_registry: registry.example.com\n"))
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_for(lambda: world.workload("web", "main")["spec"]["template"]["spec"]["containers"][0]["image"]
                    .startswith("registry.example.com/"), "the new registry rolled out", 60)
    reloaded = [e for e in daemon.logs() if e.get("event") == "configuration reloaded"]
    assert reloaded and reloaded[-1]["rendering_changed"] == ["local"]
    world.config.write_text(good.replace("poll_interval: 1s", "poll_interval: [nonsense]"))
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_for(lambda: [e for e in daemon.logs() if e.get("event") == "configuration refused; the old one "
                             "stays in force"], "the bad config refused", 30)
    assert daemon.proc.poll() is None and daemon.get("/healthz") == "ok\n"


def test_operators_read_drift_status_and_metrics_from_the_daemon(world: World,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from reconciler.cli.main import main

    world.service("web", "main: {instances: 2, deploy_group: prod}\n")
    first = world.deploy("web", "prod", datetime.now(timezone.utc) - timedelta(minutes=1))
    daemon = world.daemon()
    daemon.wait_for(lambda: world.synced(daemon, "web", "main", first), "web Synced", 90)
    second = world.deploy("web", "prod")
    daemon.wait_for(lambda: world.synced(daemon, "web", "main", second), "web Synced on the new sha", 60)
    capsys.readouterr()
    assert main(["drift", "--server", daemon.url, "-o", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(r["service"], r["instance"], r["status"]) for r in doc["instances"]] == [("web", "main", "Synced")]
    assert doc["source"]["deployments_commit"] and doc["clusters"]["local"]["reachable"] is True
    assert main(["status", "web", "--server", daemon.url, "-o", "json"]) == 0
    status = json.loads(capsys.readouterr().out)
    (main_row,) = status["instances"]
    assert main_row["versions"]["new"] == second and main_row["replicas"]["desired"] == 2
    assert main_row["versions"]["pods"] == {second: 2} and main_row["versions"]["old"] == []
    assert main(["drift", "--server", daemon.url]) == 0
    assert "web.main" in capsys.readouterr().out
    assert main(["status", "nosuch", "--server", daemon.url]) == 2
    err = capsys.readouterr().err
    assert "HTTP 404: no instance of service 'nosuch' is known" in err and "<" not in err
    metrics = daemon.get("/metrics")
    assert isinstance(metrics, str)
    samples = {line.split(" ")[0]: float(line.split(" ")[-1]) for line in metrics.splitlines()
               if line and not line.startswith("#")}
    assert samples['reconciler_instances{cluster="local",status="Synced"}'] == 1.0
    assert samples['reconciler_instances{cluster="local",status="Degraded"}'] == 0.0
    assert samples['reconciler_apply_total{action="create",cluster="local",kind="Deployment",result="ok"}'] == 1.0
    assert samples['reconciler_apply_total{action="update",cluster="local",kind="Deployment",result="ok"}'] >= 1.0
    assert samples['reconciler_reconcile_duration_seconds_count{cluster="local"}'] >= 2
    assert samples['reconciler_git_poll_duration_seconds_count'] >= 2
    assert samples['reconciler_last_successful_reconcile_timestamp_seconds{cluster="local"}'] > time.time() - 60
    assert samples['reconciler_rollouts_in_progress{cluster="local"}'] == 0.0
    assert samples['reconciler_leader{cluster="local"}'] == 1.0
    assert samples['reconciler_deploy_lead_time_seconds_count{cluster="local"}'] >= 1
    assert any(k.startswith('reconciler_source_commit_info{commit="') for k in samples)


def test_a_failed_rollout_is_notified_once(world: World) -> None:
    import http.server
    import threading

    received: list[dict[str, Any]] = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        world.config.write_text(world.config.read_text() + "notify: {url_env: RECONCILER_E2E_NOTIFY}\n")
        world.soa.commit({"web/deploy.yaml": "pipeline:\n- step: prod\n  auto_rollback: true\n"}, message="pipeline")
        world.service("web", "main: {instances: 2, deploy_group: prod}\n")
        early = datetime.now(timezone.utc) - timedelta(minutes=2)
        good = world.deploy("web", "prod", early)
        url = f"http://hook:s3cret@127.0.0.1:{server.server_address[1]}/hook"
        daemon = world.daemon(env={"RECONCILER_E2E_NOTIFY": url})
        daemon.wait_for(lambda: world.synced(daemon, "web", "main", good), "web Synced", 90)
        assert received == []  # nothing to tell while all is well
        bad = world.services["web"].commit({"README": "bad\n"}, message="bad")
        world.services["web"].tag(f"paasta-prod+crashloop-{(early + timedelta(minutes=1)).strftime('%Y%m%dT%H%M%S')}"
                                  "-deploy", bad)
        daemon.wait_for(lambda: {e["type"] for e in received} >= {"degraded", "train_halted"},
                        "the notifications", 90)
        halted = next(e for e in received if e["type"] == "train_halted")
        assert halted["service"] == "web" and halted["deploy_group"] == "prod" and halted["cluster"] == "local"
        time.sleep(3)  # several more cycles: no repeats
        assert [e["type"] for e in received].count("train_halted") == 1
        assert "s3cret" not in json.dumps(received) and "s3cret" not in daemon.log.read_text()
    finally:
        server.shutdown()


def test_detect_only_drift_stays_reported_between_resyncs(world: World) -> None:
    world.config.write_text(world.config.read_text().replace("    prune: true\n", "    prune: true\n    heal_drift: false\n"))
    world.service("web", "main: {instances: 1}\n")
    sha = world.deploy("web", "local.main")
    daemon = world.daemon("--resync-interval", "2")
    daemon.wait_for(lambda: world.synced(daemon, "web", "main", sha), "web Synced", 90)
    live = world.workload("web", "main")
    container = live["spec"]["template"]["spec"]["containers"][0]["name"]
    world.cluster.apply({"apiVersion": "apps/v1", "kind": "Deployment",
                         "metadata": {"name": "web-main", "namespace": world.namespace("web")},
                         "spec": {"template": {"metadata": {"annotations": {"edited-by": "hand"}},
                                               "spec": {"containers": [{"name": container, "image": "edited:1"}]}}}},
                        field_manager="kubectl-edit")
    row = daemon.wait_for(lambda: (daemon.row("web", "main") or {}).get("status") == "Drifted"
                          and daemon.row("web", "main"), "the drift to be found", 30)
    assert any(d["path"] == f"spec.template.spec.containers[{container}].image" and d["live"] == "edited:1"
               for d in row["differences"])
    for _ in range(8):  # many reconcile cycles (0.5 s) and resyncs (2 s): never healed, never Synced
        time.sleep(0.5)
        assert daemon.row("web", "main")["status"] == "Drifted"
    assert world.workload("web", "main")["spec"]["template"]["spec"]["containers"][0]["image"] == "edited:1"


def test_wait_then_rollback_by_tag_then_wait_for_the_old_sha(world: World) -> None:
    """The service owner's loop end to end: deploy, `wait`, deploy again, `rollback` (a deploy
    tag), `wait --sha` for the old sha; `history` tells the story."""
    world.service("web", "main: {instances: 2, deploy_group: prod}\n")
    first = world.deploy("web", "prod", datetime.now(timezone.utc) - timedelta(minutes=2))
    daemon = world.daemon()

    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "reconciler.cli.main", *argv], capture_output=True, text=True,
                              cwd=REPO, env=os.environ, timeout=180)

    waited = cli("wait", "web.main", "--server", daemon.url, "--sha", first[:10], "--timeout", "120s")
    assert waited.returncode == 0, waited.stdout + waited.stderr
    second = world.deploy("web", "prod", datetime.now(timezone.utc) - timedelta(minutes=1))
    assert cli("wait", "web.main", "--server", daemon.url, "--sha", second[:10], "--timeout", "120s").returncode == 0
    back = cli("rollback", "web", "--deploy-group", "prod", "--config", str(world.config), "-o", "json")
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout)["to"] == first
    waited = cli("wait", "web.main", "--config", str(world.config), "--sha", first[:10], "--timeout", "120s",
                 "--interval", "1s")
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert world.workload("web", "main")["spec"]["template"]["spec"]["containers"][0]["image"].endswith(first)
    history = cli("history", "web", "--config", str(world.config), "-o", "json")
    doc = json.loads(history.stdout)
    assert [d["sha"] for d in doc["deploys"]] == [first, second, first]  # the rollback is a deploy like any
    assert doc["running"]["local"]["main"] == first
