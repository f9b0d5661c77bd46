"""No credential in any output: the CLI's streams, the logs, every HTTP response (drift JSON,
status, page, readiness, metrics) and notifications all go through `reconciler.scrub`."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from werkzeug.test import Client

from reconciler.cli.main import main
from reconciler.daemon import logs
from reconciler.daemon.http import Api
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.notify import Notifier
from reconciler.daemon.state import DaemonState
from reconciler.report.status import Row
from tests.daemon.test_notify import Receiver, wait_for

TOKEN = "ghp_s3cr3tT0ken"
URL = f"https://deploy:{TOKEN}@127.0.0.1:1/soa-configs.git?access_token={TOKEN}"


def test_the_cli_never_prints_a_credential(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "reconciler.yaml"
    config.write_text(f"soa_configs: {{repo: '{URL}'}}\nclusters:\n  local: {{sim: {{state: {tmp_path}/s.sqlite}}}}\n"
                      f"state_dir: {tmp_path}/state\n")
    for argv in (["plan", "--config", str(config)], ["drift", "--config", str(config), "-o", "json"],
                 ["apply", "--config", str(config), "--dry-run"]):
        code = main(argv)
        out = capsys.readouterr()
        assert code == 2 and "127.0.0.1:1" in out.err
        assert TOKEN not in out.out + out.err, argv


def test_log_lines_are_scrubbed_in_both_formats() -> None:
    for as_json in (True, False):
        stream = io.StringIO()
        logs.setup(stream, as_json=as_json)
        logs.warn("source poll failed", error=f"fatal: unable to access '{URL}'", url=URL)
        assert TOKEN not in stream.getvalue() and "127.0.0.1:1" in stream.getvalue()
    logs.setup(io.StringIO(), as_json=True, level=logging.INFO)


def test_every_http_response_is_scrubbed() -> None:
    state = DaemonState(["local"])
    state.set_source(soa_commit="a" * 40, deployments_commit=None, error=f"cannot fetch {URL}")
    state.set_cluster("local", reachable=False, error=f"Unauthorized at {URL}",
                      rows=[Row("local", "web", "main", "Degraded", f"pulling from {URL} failed")])
    metrics = Metrics()
    metrics.source_errors.labels(source=f"soa_configs {URL}", kind="poll").inc()
    client = Client(Api(state, metrics, webhook_secret=lambda: None, on_push=lambda p: None))
    for path in ("/", "/api/v1/drift", "/api/v1/status/web", "/readyz", "/metrics", "/api/v1/status/nope"):
        body = client.get(path).get_data(as_text=True)
        assert "127.0.0.1:1" in body or path in ("/api/v1/status/nope",), path
        assert TOKEN not in body, path


def test_notifications_are_scrubbed() -> None:
    receiver = Receiver()
    try:
        notifier = Notifier("HOOK", environ={"HOOK": f"http://127.0.0.1:{receiver.port}/hook"}, backoff=0.01)
        notifier.send([{"type": "degraded", "cluster": "local", "service": "web", "instance": "main",
                        "message": f"image pull from {URL} failed"}])
        wait_for(lambda: notifier.delivered == 1)
        notifier.close(5.0)
        (body,) = [r["body"] for r in receiver.requests]
        assert TOKEN not in body and "127.0.0.1:1" in json.loads(body)["message"]
    finally:
        receiver.close()
