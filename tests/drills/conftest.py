"""The fault drills' harness: `reconciler run` as a real process on the embedded cluster, a real
git remote, a notification receiver, and the checks every drill makes afterwards.

Every drill asserts, besides its own point:
- nothing git still has was deleted (same uid), and no workload was bounced twice (its
  generation moved at most once per change git or a heal asked for);
- the failure is visible in the drift JSON, on the page, in the metrics and in one log line;
- no secret (API token, webhook secret, the credentials of the notify URL) appears in any
  output: the daemon's log, every HTTP answer, the notifications, the CLI's output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.cluster.sim.backend import SimCluster
from tests.conftest import REPO, SHA, deployments_json
from tests.daemon.test_notify import Receiver
from tests.support.daemon import DaemonProcess
from tests.support.gitremote import GitRemote

API_TOKEN = "drill-api-token-7f3a9c"
HOOK_SECRET = "drill-hook-secret-51bd0e"
NOTIFY_PASSWORD = "drill-notify-pw-c0ffee"
SECRETS = (API_TOKEN, HOOK_SECRET, NOTIFY_PASSWORD)
CLUSTER = "local"


class Drill:
    """One soa-configs remote (main and deployments branches), a reconciler.yaml with prune on,
    auth, a webhook secret and a notify URL with credentials, the simulated cluster."""

    def __init__(self, root: Path, receiver: Receiver, top: dict[str, Any] | None = None, **settings: Any) -> None:
        self.root = root
        self.receiver = receiver
        self.domain = f"drill{uuid.uuid4().hex[:6]}.example.com"
        (root / "remotes").mkdir(parents=True)
        self.soa = GitRemote(root / "remotes", "soa-configs")
        self.state = root / "sim.sqlite"
        self.cluster = SimCluster(CLUSTER, self.state, pod_ready_seconds=0.2)
        extra = "".join(f"    {k}: {json.dumps(v)}\n" for k, v in settings.items())
        extra_top = "".join(f"{k}: {json.dumps(v)}\n" for k, v in (top or {}).items())
        self.config = root / "reconciler.yaml"
        self.config.write_text(f"""
soa_configs:
  repo: {self.soa.url}
  poll_interval: 1s
  webhook_secret_env: DRILL_HOOK_SECRET
clusters:
  {CLUSTER}:
    sim: {{state: {self.state}, pod_ready_seconds: 0.2}}
    prune: true
    rollout: {{max_concurrent_bounces: 10, max_unavailable_fraction: 1.0}}
{extra}label_domain: {self.domain}
state_dir: {root / 'state'}
auth: {{token_env: DRILL_API_TOKEN}}
notify: {{url_env: DRILL_NOTIFY_URL}}
{extra_top}""")
        self.env = {"DRILL_API_TOKEN": API_TOKEN, "DRILL_HOOK_SECRET": HOOK_SECRET,
                    "DRILL_NOTIFY_URL": f"http://drill:{NOTIFY_PASSWORD}@127.0.0.1:{receiver.port}/hook"}
        self.daemons: list[DaemonProcess] = []
        self.outputs: list[str] = []  # CLI output, checked for secrets too
        self.secrets: list[str] = list(SECRETS)  # a drill adds the values it plants

    # ------------------------------------------------------------------ git
    def services(self, specs: dict[str, str], message: str = "services") -> None:
        """service -> kubernetes-local.yaml text; every instance deployed at SHA."""
        files: dict[str, Any] = {}
        deployments: dict[str, Any] = {}
        for service, instances in specs.items():
            files[f"{service}/service.yaml"] = f"description: {service}\n"
            files[f"{service}/kubernetes-{CLUSTER}.yaml"] = instances
            names = [line.split(":", 1)[0] for line in instances.splitlines() if line and not line.startswith(" ")]
            deployments[f"{service}/deployments.json"] = deployments_json(
                service, {f"{CLUSTER}.{n}": SHA for n in names})
        self.soa.commit(files, message=message)
        self.soa.commit(deployments, branch="deployments", message=message)

    # ------------------------------------------------------------------ the daemon
    def daemon(self, *args: str) -> DaemonProcess:
        process = DaemonProcess(self.config, self.root / f"daemon{len(self.daemons)}.log",
                                "--reconcile-interval", "0.5", *args, env=self.env, token=API_TOKEN)
        self.daemons.append(process)
        return process.start()

    def row(self, daemon: DaemonProcess, service: str, instance: str) -> dict[str, Any] | None:
        return daemon.row(service, instance, CLUSTER)

    def settled(self, daemon: DaemonProcess, *services: str) -> None:
        def done() -> bool:
            rows = [r for r in daemon.drift()["instances"] if r["service"] in services]
            return bool(rows) and all(r["status"] == "Synced" for r in rows)
        daemon.wait_for(done, f"{', '.join(services)} Synced", 90)

    # ------------------------------------------------------------------ what the cluster runs
    def workloads(self) -> dict[tuple[str, str], tuple[str, int]]:
        """(namespace, name) -> (uid, generation) of every managed Deployment/StatefulSet."""
        selector = f"{self.domain}/managed=true"
        return {(o["metadata"]["namespace"], o["metadata"]["name"]): (o["metadata"]["uid"], o["metadata"]["generation"])
                for kind in ("Deployment", "StatefulSet") for o in self.cluster.list(kind, selector=selector)}

    def cli(self, *argv: str) -> tuple[int, str]:
        proc = subprocess.run([sys.executable, "-m", "reconciler.cli.main", *argv, "--config", str(self.config)],
                              capture_output=True, text=True, cwd=REPO, env={**os.environ, **self.env},
                              timeout=120)
        self.outputs.append(proc.stdout + proc.stderr)
        return proc.returncode, proc.stdout + proc.stderr

    # ------------------------------------------------------------------ the common checks
    def visible(self, daemon: DaemonProcess, service: str, instance: str, status: str, needle: str,
                log_event: str, metric: str | None = None) -> dict[str, Any]:
        """The failure is in the drift JSON, the page, the metrics and one log line."""
        row = daemon.wait_for(lambda: (r := self.row(daemon, service, instance)) and r["status"] == status and r,
                              f"{service}.{instance} {status}", 60)
        assert needle in row["message"], row
        page = daemon.get("/")
        assert isinstance(page, str) and f"<td>{service}.{instance}</td>" in page and "need attention" in page
        assert "all settled" not in page.split('id="instances"')[0]
        metrics = daemon.get("/metrics")
        assert isinstance(metrics, str)
        assert f'reconciler_instances{{cluster="{CLUSTER}",status="{status}"}}' in metrics
        count = next(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                     if line.startswith(f'reconciler_instances{{cluster="{CLUSTER}",status="{status}"}}'))
        assert count >= 1
        if metric:
            assert metric in metrics, metric
        lines = [e for e in daemon.logs() if e.get("event") == log_event]
        assert lines, f"no {log_event!r} log line"
        return dict(row)

    def unharmed(self, before: dict[tuple[str, str], tuple[str, int]], *, bounced: Collection[str] = ()) -> None:
        """Every workload of `before` is still there (same uid); those not in `bounced` were not
        changed, those in it at most once."""
        now = self.workloads()
        for key, (uid, generation) in before.items():
            assert key in now and now[key][0] == uid, f"{key} was deleted"
            allowed = 1 if key[1] in bounced else 0
            assert now[key][1] - generation <= allowed, f"{key} bounced {now[key][1] - generation} times"

    def no_secrets(self, daemon: DaemonProcess) -> None:
        texts = [daemon.log.read_text(errors="replace"), *self.outputs]
        for path in ("/", "/api/v1/drift", "/metrics", "/readyz", "/healthz"):
            answer = daemon.get(path)
            texts.append(answer if isinstance(answer, str) else json.dumps(answer))
        texts += [json.dumps(r) for r in self.receiver.requests]
        for text in texts:
            for secret in self.secrets:
                assert secret not in text, f"a secret in an output: ...{text[max(0, text.find(secret) - 80):][:160]}"

    def close(self) -> None:
        for daemon in self.daemons:
            daemon.stop()
        self.cluster.close()


@pytest.fixture
def drill(tmp_path: Path) -> Iterator[Any]:
    receiver = Receiver()
    made: list[Drill] = []

    def make(top: dict[str, Any] | None = None, **settings: Any) -> Drill:
        """A drill; `top` adds top-level reconciler.yaml keys, `settings` the cluster's."""
        made.append(Drill(tmp_path / f"drill{len(made)}", receiver, top, **settings))
        return made[-1]

    yield make
    for one in made:
        one.close()
    receiver.close()
