"""`reconciler refresh`: a running daemon with a long poll interval sees a change at once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.cluster.sim.backend import SimCluster
from tests.conftest import REPO, SHA, deployments_json, write_tree
from tests.support.daemon import DaemonProcess


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[DaemonProcess, Path]]:
    soa = tmp_path / "soa"
    write_tree(soa, {"web/service.yaml": "description: web\n", "web/kubernetes-local.yaml": "main: {instances: 1}\n",
                     "web/deployments.json": deployments_json("web", {"local.main": SHA})})
    config = tmp_path / "reconciler.yaml"
    config.write_text(f"""
soa_configs: {{path: {soa}, poll_interval: 10m}}
clusters:
  local:
    sim: {{state: {tmp_path / 'local.sqlite'}, pod_ready_seconds: 0.2}}
state_dir: {tmp_path / 'state'}
""")
    process = DaemonProcess(config, tmp_path / "daemon.log", "--reconcile-interval", "600").start()
    yield process, soa
    process.stop()


def test_refresh_applies_a_change_long_before_the_next_poll(daemon: tuple[DaemonProcess, Path],
                                                            tmp_path: Path) -> None:
    process, soa = daemon
    process.wait_for(lambda: process.row("web", "main"), "web.main applied", 60)
    (soa / "web" / "kubernetes-local.yaml").write_text("main: {instances: 3}\n")
    time.sleep(1)
    assert process.row("web", "main")["desired"]["replicas"] == 1  # nothing polls for 10 minutes
    out = subprocess.run([sys.executable, "-m", "reconciler.cli.main", "refresh", "--server", process.url],
                         capture_output=True, text=True, cwd=REPO, env=os.environ, timeout=60)
    assert out.returncode == 0 and "refreshing local" in out.stdout, out.stderr

    def scaled() -> bool:
        sim = SimCluster("local", tmp_path / "local.sqlite")
        try:
            return bool(sim.get("Deployment", "web-main", "paastasvc-web")["spec"]["replicas"] == 3)
        finally:
            sim.close()
    process.wait_for(scaled, "the refresh to apply the change", 30)
    assert [e for e in process.logs() if e.get("event") == "refresh requested"]
    bad = subprocess.run([sys.executable, "-m", "reconciler.cli.main", "refresh", "--server", process.url,
                          "--cluster", "nope"], capture_output=True, text=True, cwd=REPO, env=os.environ, timeout=60)
    assert bad.returncode == 2 and "no such cluster: nope" in bad.stderr
