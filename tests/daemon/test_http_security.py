"""The listener's defences (reconciler.md section 6): bearer authentication, webhook replays,
body limits, slow clients, and no unauthenticated listening beyond loopback."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client

from reconciler.config import ClusterConfig, Config, SourceConfig
from reconciler.daemon import webhook
from reconciler.daemon.app import Daemon
from reconciler.daemon.http import Api, ListenError, Server
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.state import DaemonState

SECRET = b"hook-secret"
TOKEN = "t0ken-for-the-api"


def api(token: str | None = TOKEN, pushes: list[dict[str, Any]] | None = None, **kw: Any) -> Api:
    return Api(DaemonState(["local"]), Metrics(), webhook_secret=lambda: SECRET,
               on_push=(pushes if pushes is not None else []).append,
               token=(lambda: token.encode() if token else None), **kw)


def test_every_endpoint_but_health_metrics_and_the_webhook_needs_the_token() -> None:
    client = Client(api())
    for path in ("/", "/api/v1/drift", "/api/v1/status/web"):
        denied = client.get(path)
        assert denied.status_code == 401 and denied.headers["WWW-Authenticate"].startswith("Bearer"), path
        assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get(path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code in (200, 404)
    for path in ("/healthz", "/readyz", "/metrics"):
        assert client.get(path).status_code in (200, 503), path
    body = b'{"ref": "refs/heads/main"}'
    hook = client.post("/api/v1/hooks/git", data=body, headers={webhook.HEADER: webhook.signature(SECRET, body)})
    assert hook.status_code == 202


def test_a_configured_but_unset_token_refuses_everyone() -> None:
    client = Client(Api(DaemonState(["local"]), Metrics(), webhook_secret=lambda: SECRET, on_push=lambda p: None,
                        token=lambda: None))
    denied = client.get("/api/v1/drift", headers={"Authorization": "Bearer "})
    assert denied.status_code == 401 and "not set" in denied.get_json()["error"]


def test_a_replayed_delivery_is_answered_without_a_second_poll() -> None:
    pushes: list[dict[str, Any]] = []
    client = Client(api(pushes=pushes))

    def deliver(body: bytes) -> Any:
        return client.post("/api/v1/hooks/git", data=body, headers={webhook.HEADER: webhook.signature(SECRET, body)})

    first = b'{"after": "1111", "repository": {"name": "soa-configs"}}'
    assert deliver(first).status_code == 202
    again = deliver(first)
    assert again.status_code == 200 and again.get_json() == {"duplicate": True}
    assert deliver(b'{"after": "2222", "repository": {"name": "soa-configs"}}').status_code == 202
    assert len(pushes) == 2


def test_the_replay_memory_is_bounded() -> None:
    pushes: list[dict[str, Any]] = []
    small = api(pushes=pushes, replay_memory=3)
    client = Client(small)
    bodies = [json.dumps({"n": n}).encode() for n in range(5)]
    for body in bodies:
        client.post("/api/v1/hooks/git", data=body, headers={webhook.HEADER: webhook.signature(SECRET, body)})
    assert len(small.seen) == 3 and len(pushes) == 5
    # the oldest was forgotten: accepted again (harmless: a hook only triggers a poll)
    oldest = bodies[0]
    assert client.post("/api/v1/hooks/git", data=oldest,
                       headers={webhook.HEADER: webhook.signature(SECRET, oldest)}).status_code == 202


def serve(app: Api, **kw: Any) -> Server:
    server = Server(app, "127.0.0.1:0", **kw)
    server.start()
    return server


def test_huge_bodies_are_refused_and_slow_clients_dropped() -> None:
    server = serve(api(), max_body_bytes=4096, client_timeout=1.0)
    url = f"http://{server.address}"
    try:
        body = b"x" * 10_000
        request = urllib.request.Request(url + "/api/v1/hooks/git", data=body, method="POST",
                                         headers={webhook.HEADER: webhook.signature(SECRET, body)})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 413
        host, port = server.address.split(":")
        slow = socket.create_connection((host, int(port)))
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # ... and never the end of the headers
        started = time.monotonic()
        slow.settimeout(10)
        assert slow.recv(1024) == b""  # closed by the server
        assert time.monotonic() - started < 8
        with urllib.request.urlopen(url + "/healthz", timeout=5) as ok:  # others are served meanwhile
            assert ok.status == 200
    finally:
        server.stop()


def config(tmp_path: Path, listen: str, **kw: Any) -> Config:
    return Config(clusters={"local": ClusterConfig("local", sim_state=str(tmp_path / "s.sqlite"))},
                  soa_configs=SourceConfig(path=str(tmp_path)), state_dir=str(tmp_path / "state"), listen=listen,
                  **kw)


def test_no_unauthenticated_listening_beyond_loopback(tmp_path: Path) -> None:
    with pytest.raises(ListenError, match="auth"):
        Daemon(config(tmp_path, "0.0.0.0:0"))
    for allowed in (config(tmp_path, "127.0.0.1:0"), config(tmp_path, "localhost:0"),
                    config(tmp_path, "0.0.0.0:0", auth_token_env="RECONCILER_API_TOKEN"),
                    config(tmp_path, "0.0.0.0:0", allow_unauthenticated=True)):
        daemon = Daemon(allowed)
        daemon.server.stop()
