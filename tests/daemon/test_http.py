"""The daemon's HTTP API through Werkzeug's test client, and over a real socket (Waitress)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from werkzeug.test import Client

from reconciler.daemon import webhook
from reconciler.daemon.http import Api, Server
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.state import DaemonState
from reconciler.report.status import Row

SECRET = b"s3cret"


def make() -> tuple[Client, DaemonState, list[dict[str, Any]]]:
    state = DaemonState(["local", "prod"])
    pushes: list[dict[str, Any]] = []
    api = Api(state, Metrics(), webhook_secret=lambda: SECRET, on_push=pushes.append)
    return Client(api), state, pushes


def test_health_and_readiness() -> None:
    client, state, _ = make()
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503 and b"sources not read yet" in response.data
    state.set_source(soa_commit="abc", deployments_commit=None, error=None)
    state.set_cluster("local", reachable=True)
    state.set_cluster("prod", reachable=False, error="connection refused")
    response = client.get("/readyz")
    assert response.status_code == 503 and response.data == b"cluster prod: connection refused\n"
    state.set_cluster("prod", reachable=True, error=None)
    assert client.get("/readyz").status_code == 200


def test_drift_status_and_page() -> None:
    client, state, _ = make()
    state.set_source(soa_commit="a" * 40, deployments_commit="b" * 40, error=None)
    state.set_cluster("local", reachable=True, rows=[
        Row("local", "web", "main", "Synced", "in sync with git"),
        Row("local", "web", "canary", "Degraded", "pods of the new revision cannot run <script>"),
        Row("local", "api", "main", "Waiting", "held: budget")])
    doc = client.get("/api/v1/drift").get_json()
    assert doc["source"] == {"soa_configs_commit": "a" * 40, "deployments_commit": "b" * 40, "error": None}
    assert [r["status"] for r in doc["instances"]] == ["Waiting", "Degraded", "Synced"]  # bad rows first
    assert doc["clusters"]["local"]["reachable"] is True and doc["clusters"]["prod"]["reachable"] is None
    assert len(client.get("/api/v1/drift?service=api").get_json()["instances"]) == 1
    status = client.get("/api/v1/status/web").get_json()
    assert status["service"] == "web" and len(status["instances"]) == 2
    assert client.get("/api/v1/status/nope").status_code == 404
    page = client.get("/").get_data(as_text=True)
    assert page.startswith("<!doctype html>") and 'data-status="Degraded"' in page
    assert "<script>" not in page and "&lt;script&gt;" in page  # everything is escaped
    assert "http://" not in page and "https://" not in page  # no external assets


def test_webhook_signature() -> None:
    client, _, pushes = make()
    body = json.dumps({"ref": "refs/heads/main", "repository": {"name": "soa-configs"}}).encode()
    assert client.post("/api/v1/hooks/git", data=body).status_code == 401
    bad = {webhook.HEADER: webhook.signature(b"wrong", body)}
    assert client.post("/api/v1/hooks/git", data=body, headers=bad).status_code == 401
    assert pushes == []
    good = {webhook.HEADER: webhook.signature(SECRET, body), "X-GitHub-Event": "push"}
    response = client.post("/api/v1/hooks/git", data=body, headers=good)
    assert response.status_code == 202 and pushes == [json.loads(body)]
    assert client.get("/api/v1/hooks/git").status_code == 405


def test_no_secret_configured_refuses_every_hook() -> None:
    state = DaemonState(["local"])
    client = Client(Api(state, Metrics(), webhook_secret=lambda: None, on_push=lambda p: None))
    body = b"{}"
    assert client.post("/api/v1/hooks/git", data=body,
                       headers={webhook.HEADER: webhook.signature(b"", body)}).status_code == 401


def test_metrics_names() -> None:
    client, _, _ = make()
    metrics_text = client.get("/metrics").get_data(as_text=True)
    for name in ("reconciler_reconcile_duration_seconds", "reconciler_apply_total", "reconciler_instances",
                 "reconciler_source_commit_info", "reconciler_source_errors_total",
                 "reconciler_rollouts_in_progress", "reconciler_git_poll_duration_seconds",
                 "reconciler_last_successful_reconcile_timestamp_seconds", "reconciler_deploy_lead_time_seconds"):
        assert f"# TYPE {name}" in metrics_text, name


def test_served_over_a_real_socket() -> None:
    state = DaemonState(["local"])
    server = Server(Api(state, Metrics(), webhook_secret=lambda: None, on_push=lambda p: None), "127.0.0.1:0")
    server.start()
    try:
        host, port = server.address.split(":")
        assert host == "127.0.0.1" and int(port) > 0
        with urllib.request.urlopen(f"http://{server.address}/healthz", timeout=5) as response:
            assert response.read() == b"ok\n"
        try:
            urllib.request.urlopen(f"http://{server.address}/readyz", timeout=5)
            raise AssertionError("not ready yet")
        except urllib.error.HTTPError as exc:
            assert exc.code == 503
    finally:
        server.stop()


def test_refresh_polls_now_for_the_named_clusters_and_the_page_button_comes_back() -> None:
    state = DaemonState(["local", "prod"])
    asked: list[list[str]] = []
    client = Client(Api(state, Metrics(), webhook_secret=lambda: SECRET, on_push=lambda p: None,
                        on_refresh=asked.append, token=lambda: b"tok"))
    assert client.post("/api/v1/refresh").status_code == 401  # protected like the API
    auth = {"Authorization": "Bearer tok"}
    response = client.post("/api/v1/refresh", headers=auth)
    assert response.status_code == 202 and response.get_json() == {"refreshing": ["local", "prod"]}
    assert client.post("/api/v1/refresh?cluster=prod", headers=auth).get_json() == {"refreshing": ["prod"]}
    missing = client.post("/api/v1/refresh?cluster=nope", headers=auth)
    assert missing.status_code == 404 and "no such cluster: nope" in missing.get_json()["error"]
    button = client.post("/api/v1/refresh?then=page", headers=auth)
    assert button.status_code == 303 and button.headers["Location"].endswith("/")
    assert asked == [["local", "prod"], ["prod"], ["local", "prod"]]


def test_the_page_filters_by_cluster_service_and_status_and_shows_when_each_row_was_checked() -> None:
    client, state, _ = make()
    from datetime import datetime, timezone
    state.set_cluster("local", reachable=True, last_success=datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc), rows=[
        Row("local", "web", "main", "Synced", "in sync"), Row("local", "web", "canary", "Degraded", "crash"),
        Row("local", "api", "main", "Synced", "in sync")])
    state.set_cluster("prod", reachable=True, rows=[Row("prod", "web", "main", "Synced", "in sync")])
    page = client.get("/?status=Degraded").get_data(as_text=True)
    assert page.count("<tr data-status=") == 1 and "web.canary" in page and "2026-12-07T12:00:00Z" in page
    page = client.get("/?service=web&cluster=prod").get_data(as_text=True)
    assert page.count("<tr data-status=") == 1 and 'value="web"' in page
    assert 'action="/api/v1/refresh?then=page"' in page
