"""The report page at `/`, loaded from a running daemon in headless Chromium (Debian's package).

The page is read as the browser built it (`--dump-dom`), and a screenshot is kept in
`artifacts/report-page.png`. Without Chromium the test skips, except where
RECONCILER_REQUIRE_BROWSER is set (CI), where that is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.support.daemon import REPO
from tests.support.world import World

ARTIFACTS = REPO / "artifacts"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("RECONCILER_REQUIRE_BROWSER"):
        pytest.fail("chromium is not installed (RECONCILER_REQUIRE_BROWSER is set: .ci/run installs it)")
    pytest.skip("chromium is not installed")


def browse(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium on this closed machine: no background networking, a fresh profile."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        return subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", *extra, url],
            capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    from reconciler.cluster.sim.backend import SimCluster

    state = tmp_path / "sim.sqlite"
    cluster = SimCluster("local", state, pod_ready_seconds=0.3)
    made = World(tmp_path, f"    sim: {{state: {state}, pod_ready_seconds: 0.3}}", cluster)
    yield made
    made.close()
    cluster.close()


def test_the_report_page_in_a_browser(world: World) -> None:
    chromium()
    world.service("web", "main: {instances: 2, deploy_group: prod}\ncanary: {instances: 1, deploy_group: canary}\n")
    world.service("api", "main: {instances: 1}\nlater: {instances: 1, deploy_group: nobody}\n")
    early = datetime.now(timezone.utc) - timedelta(minutes=1)
    good = world.deploy("web", "prod", early)
    world.deploy("api", "local.main", early)
    # the canary's image (`...-crashloop`, from the deploy tag's image version) crash-loops
    crashing = world.services["web"].commit({"README": "canary\n"}, message="canary")
    world.services["web"].tag(f"paasta-canary+crashloop-{early.strftime('%Y%m%dT%H%M%S')}-deploy", crashing)
    daemon = world.daemon()
    daemon.wait_for(lambda: world.synced(daemon, "web", "main", good), "web.main Synced", 90)
    daemon.wait_for(lambda: (daemon.row("web", "canary") or {}).get("status") == "Degraded", "canary Degraded", 60)
    daemon.wait_for(lambda: (daemon.row("api", "main") or {}).get("status") == "Synced", "api.main Synced", 60)
    result = browse(daemon.url + "/", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    rows = re.findall(r'<tr data-status="([A-Za-z]+)"><td>local</td><td>([a-z_.]+)</td>', dom)
    assert rows[0] == ("Degraded", "web.canary"), rows  # the problem first
    assert sorted(rows[1:]) == [("NotDeployed", "api.later"), ("Synced", "api.main"), ("Synced", "web.main")]
    assert "CrashLoopBackOff" in dom and 'data-cluster="local"' in dom and "1 need attention" in dom
    assert 'href="/api/v1/drift"' in dom
    assert "<script" not in dom and "http://" not in dom.replace(daemon.url, "")  # no external assets

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report-page.png"
    shot.unlink(missing_ok=True)
    result = browse(daemon.url + "/", f"--screenshot={shot}", "--window-size=1280,800", "--hide-scrollbars")
    assert result.returncode == 0 and shot.exists() and shot.stat().st_size > 5000, result.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
