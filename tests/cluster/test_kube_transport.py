"""KubeCluster's HTTP behaviour that a healthy control plane never shows: 429 and 5xx answers,
Retry-After, timeouts, gzip, the rate limit. Served by a scripted HTTP server on 127.0.0.1."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from reconciler.cluster.errors import Conflict, NotFound, Timeout, Unavailable
from reconciler.cluster.kube.backend import KubeCluster
from reconciler.cluster.kube.http import TokenBucket

TOKEN = "stub-token-123"


@dataclass
class Answer:
    status: int = 200
    body: Any = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Stub:
    """Answers requests from a script (then 200 `{}`), and remembers every request."""

    def __init__(self) -> None:
        self.script: deque[Answer] = deque()
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True
            wbufsize = -1  # one write per response (flushed after each request)

            def log_message(self, *args: Any) -> None:
                pass

            def handle_any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with stub.lock:
                    stub.seen.append(Seen(self.command, self.path, dict(self.headers), body))
                    answer = stub.script.popleft() if stub.script else Answer()
                time.sleep(answer.delay)
                data = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
                self.send_response(answer.status)
                for key, value in {"Content-Type": "application/json", **answer.headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_PATCH = do_DELETE = handle_any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub() -> Iterator[Stub]:
    server = Stub()
    yield server
    server.close()


@pytest.fixture
def kubeconfig(stub: Stub, tmp_path: Path) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "stub",
        "clusters": [{"name": "stub", "cluster": {"server": stub.url}}],
        "users": [{"name": "u", "user": {"token": TOKEN}}],
        "contexts": [{"name": "stub", "context": {"cluster": "stub", "user": "u"}}],
    }))
    return str(path)


@pytest.fixture
def naps() -> list[float]:
    return []


@pytest.fixture
def kube(kubeconfig: str, naps: list[float]) -> Iterator[KubeCluster]:
    cluster = KubeCluster.from_kubeconfig("stub", kubeconfig, sleep=naps.append, timeout=2.0)
    yield cluster
    cluster.close()


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
            "reason": reason, "message": message}


DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "ns"}}


def test_requests_are_raw_json_with_auth_and_the_protocol_shape(stub: Stub, kube: KubeCluster) -> None:
    stub.script.append(Answer(body={"kind": "DeploymentList", "apiVersion": "apps/v1",
                                    "metadata": {"continue": "tok"}, "items": [{"metadata": {"name": "a"}}]}))
    stub.script.append(Answer(body={"metadata": {}, "items": [{"metadata": {"name": "b"}}]}))
    items = kube.list("Deployment", selector="x=y", namespace="ns")
    assert [(i["apiVersion"], i["kind"], i["metadata"]["name"]) for i in items] == [
        ("apps/v1", "Deployment", "a"), ("apps/v1", "Deployment", "b")]
    first, second = stub.seen
    assert first.path == "/apis/apps/v1/namespaces/ns/deployments?labelSelector=x%3Dy&limit=500"
    assert second.path.endswith("&limit=500&continue=tok")
    assert first.headers["authorization"] == f"Bearer {TOKEN}"

    kube.apply(DEPLOYMENT, dry_run=True)
    apply = stub.seen[-1]
    assert (apply.method, apply.headers["Content-Type"]) == ("PATCH", "application/apply-patch+yaml")
    assert apply.path == "/apis/apps/v1/namespaces/ns/deployments/web?fieldManager=reconciler&force=true&dryRun=All"
    assert json.loads(apply.body) == DEPLOYMENT

    kube.delete("Namespace", "ns", uid="u-1", propagation="Foreground")
    delete = stub.seen[-1]
    assert (delete.method, delete.path) == ("DELETE", "/api/v1/namespaces/ns")
    assert json.loads(delete.body) == {"apiVersion": "v1", "kind": "DeleteOptions",
                                       "propagationPolicy": "Foreground", "preconditions": {"uid": "u-1"}}
    assert kube.counters.snapshot() == {"reads": 2, "writes": 1, "dry_runs": 1}


def test_429_is_retried_after_retry_after_and_every_attempt_counts(stub: Stub, kube: KubeCluster,
                                                                   naps: list[float]) -> None:
    stub.script.extend([Answer(429, status(429, "TooManyRequests", "slow down"), {"Retry-After": "3"}),
                        Answer(200, {"metadata": {"name": "web"}})])
    assert kube.get("Deployment", "web", "ns")["metadata"]["name"] == "web"
    assert kube.counters.snapshot() == {"reads": 2, "writes": 0, "dry_runs": 0}
    assert naps and naps[-1] >= 3.0
    assert kube.stats.snapshot()["retries"] == 1


def test_5xx_gives_up_after_the_attempts_with_backoff(stub: Stub, kube: KubeCluster, naps: list[float]) -> None:
    stub.script.extend(Answer(503, status(503, "ServiceUnavailable", "etcd is sad")) for _ in range(9))
    with pytest.raises(Unavailable) as failed:
        kube.apply(DEPLOYMENT)
    assert "Deployment ns/web" in str(failed.value) and "etcd is sad" in str(failed.value)
    assert "after 5 attempts" in str(failed.value)
    assert kube.counters.snapshot() == {"reads": 0, "writes": 5, "dry_runs": 0}
    waits = [n for n in naps if n > 0]
    assert len(waits) == 4 and waits[-1] > waits[0]  # exponential


def test_a_delete_without_uid_is_not_repeated_after_an_ambiguous_5xx(stub: Stub, kube: KubeCluster) -> None:
    stub.script.append(Answer(500, status(500, "InternalError", "boom")))
    with pytest.raises(Unavailable, match="boom"):
        kube.delete("Deployment", "web", "ns")
    assert kube.counters.snapshot()["writes"] == 1
    # ...but it is when the server says it did nothing (429)
    stub.script.extend([Answer(429, status(429, "TooManyRequests", "later")), Answer(200, {})])
    kube.delete("Deployment", "web", "ns")
    assert kube.counters.snapshot()["writes"] == 3


def test_a_retried_delete_with_uid_that_finds_the_object_gone_succeeded(stub: Stub, kube: KubeCluster) -> None:
    stub.script.extend([Answer(504, status(504, "Timeout", "took too long")),
                        Answer(404, status(404, "NotFound", 'deployments.apps "web" not found'))])
    kube.delete("Deployment", "web", "ns", uid="u-1")
    assert kube.counters.snapshot()["writes"] == 2
    stub.script.append(Answer(404, status(404, "NotFound", 'deployments.apps "web" not found')))
    with pytest.raises(NotFound):  # a first attempt's 404 is a real NotFound
        kube.delete("Deployment", "web", "ns", uid="u-1")


def test_client_errors_are_not_retried(stub: Stub, kube: KubeCluster) -> None:
    stub.script.append(Answer(409, status(409, "Conflict", "apply conflict")))
    with pytest.raises(Conflict, match="apply conflict"):
        kube.apply(DEPLOYMENT, force=False)
    assert kube.counters.snapshot()["writes"] == 1


def test_a_slow_answer_times_out_and_is_retried(stub: Stub, kubeconfig: str) -> None:
    stub.script.extend([Answer(delay=1.0), Answer(body={"metadata": {"name": "web"}})])
    cluster = KubeCluster.from_kubeconfig("slow", kubeconfig, timeout=0.3, sleep=lambda s: None)
    try:
        assert cluster.get("Deployment", "web", "ns")["metadata"]["name"] == "web"
        assert cluster.counters.snapshot()["reads"] == 2
        stub.script.extend(Answer(delay=1.0) for _ in range(2))
        slow = KubeCluster.from_kubeconfig("slow", kubeconfig, timeout=0.3, attempts=2, sleep=lambda s: None)
        with pytest.raises(Timeout, match="no response in time"):
            slow.get("Deployment", "web", "ns")
        slow.close()
    finally:
        cluster.close()


def test_gzip_bodies_are_decoded_and_both_sizes_recorded(stub: Stub, kubeconfig: str) -> None:
    payload = json.dumps({"metadata": {}, "items": [{"metadata": {"name": f"d{i}"}} for i in range(200)]}).encode()
    stub.script.append(Answer(body=gzip.compress(payload), headers={"Content-Encoding": "gzip"}))
    cluster = KubeCluster.from_kubeconfig("gz", kubeconfig, gzip=True)
    try:
        assert len(cluster.list("Deployment", namespace="ns", metadata_only=True)) == 200
        assert stub.seen[0].headers["Accept-Encoding"] == "gzip"
        assert stub.seen[0].headers["Accept"].startswith("application/json;as=PartialObjectMetadataList")
        stats = cluster.stats.snapshot()
        assert stats["bytes_decoded"] == len(payload) > stats["bytes_received"]
    finally:
        cluster.close()


def test_threads_share_one_cluster(stub: Stub, kube: KubeCluster) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: kube.get("Deployment", f"d{i}", "ns"), range(200)))
    assert kube.counters.snapshot()["reads"] == 200 == len(stub.seen)


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(qps=10, burst=3, clock=lambda: now[0])
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert [round(bucket.reserve(), 3) for _ in range(3)] == [0.1, 0.2, 0.3]  # callers queue up
    now[0] = 10.0  # idle: the bucket refills to the burst, no more
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.reserve() > 0
    assert TokenBucket(qps=0, burst=1).reserve() == 0.0  # no limit


def test_the_rate_limit_paces_real_requests(stub: Stub, kubeconfig: str) -> None:
    cluster = KubeCluster.from_kubeconfig("paced", kubeconfig, qps=20, burst=5)
    try:
        started = time.monotonic()
        for i in range(15):
            cluster.get("Deployment", f"d{i}", "ns")
        assert time.monotonic() - started >= (15 - 5) / 20 * 0.9
        assert cluster.stats.snapshot()["throttled_seconds"] > 0.3
    finally:
        cluster.close()
