"""The daemon's HTTP side: routes (Werkzeug) served by Waitress; no hand-written HTTP parsing.

GET  /                         the report page (HTML, no external assets)
GET  /healthz                  the process is alive
GET  /readyz                   sources read and clusters reachable (503 with the reasons if not)
GET  /metrics                  Prometheus
GET  /api/v1/drift             the drift report (JSON); ?cluster=C&service=S narrow it
GET  /api/v1/status/<service>  the rows of one service (JSON)
GET  /api/v1/releases          each release's progress through its pipeline (JSON); ?service=S
POST /api/v1/hooks/git         a git push: HMAC-checked, then an immediate poll (202); 401 if unsigned

With a token (`auth: {token_env}`), every endpoint except /healthz, /readyz, /metrics and the
webhook (authenticated by its signature) needs `Authorization: Bearer <token>`, compared in
constant time. A webhook body seen in the last 24 h is answered 200 "duplicate" without a poll.
Bodies over `max_body_bytes` are refused (413) and a client silent for `client_timeout` seconds
is disconnected (Waitress' own limits).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from waitress.server import create_server
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from reconciler.daemon import page, webhook
from reconciler.daemon.logs import log, warn
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.state import DaemonState
from reconciler.report.document import status_document
from reconciler.scrub import scrub_bytes

#: Endpoints open without the bearer token (probes, Prometheus, and the signed webhook).
OPEN_ENDPOINTS = frozenset({"healthz", "readyz", "metrics", "hook"})
#: How long a webhook body is remembered as delivered, and how many are (bounded memory).
REPLAY_WINDOW = 24 * 3600.0
REPLAY_MEMORY = 10_000


def _json(doc: Any, status: int = 200) -> Response:
    return Response(json.dumps(doc, indent=2) + "\n", status=status, mimetype="application/json")


class Api:
    """The WSGI application. `on_push(payload)` is called for every correctly signed webhook."""

    def __init__(self, state: DaemonState, metrics: Metrics, *, webhook_secret: Callable[[], bytes | None],
                 on_push: Callable[[dict[str, Any]], None],
                 on_refresh: Callable[[list[str]], None] | None = None,
                 versions: Callable[[str], dict[str, Any]] | None = None,
                 token: Callable[[], bytes | None] | None = None, max_body_bytes: int = 1024 * 1024,
                 replay_memory: int = REPLAY_MEMORY, clock: Callable[[], float] = time.monotonic) -> None:
        """`token`: None, no authentication; else read at each request (rotations need no
        restart), and while it reads None every protected request is refused."""
        self.state = state
        self.token = token
        self.max_body_bytes = max_body_bytes
        #: sha256 of webhook bodies delivered -> when (oldest first)
        self.seen: OrderedDict[str, float] = OrderedDict()
        self.replay_memory = replay_memory
        self.clock = clock
        self._seen_lock = threading.Lock()
        self.metrics = metrics
        self.webhook_secret = webhook_secret
        self.on_push = on_push
        self.on_refresh_request = on_refresh or (lambda clusters: None)
        #: service -> cluster -> (service, instance) -> git sha -> running pods (read live)
        self.versions = versions or (lambda service: {})
        self.urls = Map([
            Rule("/", endpoint="page", methods=["GET"]),
            Rule("/healthz", endpoint="healthz", methods=["GET"]),
            Rule("/readyz", endpoint="readyz", methods=["GET"]),
            Rule("/metrics", endpoint="metrics", methods=["GET"]),
            Rule("/api/v1/drift", endpoint="drift", methods=["GET"]),
            Rule("/api/v1/status/<service>", endpoint="status", methods=["GET"]),
            Rule("/api/v1/releases", endpoint="releases", methods=["GET"]),
            Rule("/api/v1/hooks/git", endpoint="hook", methods=["POST"]),
            Rule("/api/v1/refresh", endpoint="refresh", methods=["POST"]),
        ])

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        try:
            endpoint, args = self.urls.bind_to_environ(environ).match()
            denied = None if endpoint in OPEN_ENDPOINTS else self._denied(request)
            response: Response = denied or getattr(self, f"on_{endpoint}")(request, **args)
        except HTTPException as exc:  # errors are JSON too, with the reason in `error`
            response = _json({"error": exc.description or exc.name}, exc.code or 500)
        response.set_data(scrub_bytes(response.get_data()))  # no credential leaves the process
        return response(environ, start_response)

    def _denied(self, request: Request) -> Response | None:
        """A 401 unless the request carries the bearer token (or no token is configured)."""
        if self.token is None:
            return None
        expected = self.token()
        given = request.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if expected and scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), expected):
            return None
        reason = "missing or wrong bearer token" if expected else "the API token is not set: every request is refused"
        response = _json({"error": reason}, 401)
        response.headers["WWW-Authenticate"] = 'Bearer realm="reconciler"'
        return response

    def _replayed(self, body: bytes) -> bool:
        """Remember `body`; True when it was delivered within REPLAY_WINDOW already."""
        digest = hashlib.sha256(body).hexdigest()
        now = self.clock()
        with self._seen_lock:
            while self.seen and now - next(iter(self.seen.values())) > REPLAY_WINDOW:
                self.seen.popitem(last=False)  # older than the window: forgotten
            if digest in self.seen:
                return True
            self.seen[digest] = now
            while len(self.seen) > self.replay_memory:
                self.seen.popitem(last=False)  # the oldest beyond the memory
            return False

    def on_page(self, request: Request) -> Response:
        """The page, filtered by `?cluster=`, `?service=` and `?status=` when given."""
        report = self.state.drift(cluster=request.args.get("cluster") or None,
                                  service=request.args.get("service") or None)
        status = request.args.get("status") or None
        if status:
            report["instances"] = [r for r in report["instances"] if r["status"] == status]
        filters = {k: request.args.get(k, "") for k in ("cluster", "service", "status")}
        releases = self.state.releases(request.args.get("service") or None)["releases"]
        return Response(page.render(report, filters, releases), mimetype="text/html")

    def on_refresh(self, request: Request) -> Response:
        """Poll the sources and reconcile (comparing every field) now: every cluster, or those
        named by `?cluster=` (repeatable)."""
        known = set(self.state.drift()["clusters"])
        clusters = request.args.getlist("cluster") or sorted(known)
        missing = [c for c in clusters if c not in known]
        if missing:
            raise NotFound(f"no such cluster: {', '.join(missing)} (known: {', '.join(sorted(known))})")
        self.on_refresh_request(clusters)
        log("refresh requested", clusters=clusters, remote=request.remote_addr)
        if request.args.get("then") == "page":  # the page's button: back to the page
            return redirect("/", code=303)
        return _json({"refreshing": clusters}, 202)

    def on_healthz(self, request: Request) -> Response:
        return Response("ok\n", mimetype="text/plain")

    def on_readyz(self, request: Request) -> Response:
        ready, problems = self.state.ready()
        invalid = self.state.invalid()
        note = f"{invalid} instances Invalid in soa-configs (see /api/v1/drift)\n" if invalid else ""
        return Response(("ready\n" if ready else "".join(f"{p}\n" for p in problems)) + note,
                        status=200 if ready else 503, mimetype="text/plain")

    def on_metrics(self, request: Request) -> Response:
        return Response(self.metrics.exposition(), mimetype="text/plain; version=0.0.4; charset=utf-8")

    def on_drift(self, request: Request) -> Response:
        return _json(self.state.drift(cluster=request.args.get("cluster"), service=request.args.get("service")))

    def on_status(self, request: Request, service: str) -> Response:
        drift = self.state.drift(service=service)
        if not drift["instances"]:
            raise NotFound(f"no instance of service {service!r} is known")
        return _json(status_document(service, drift, self.versions(service)))

    def on_releases(self, request: Request) -> Response:
        return _json(self.state.releases(request.args.get("service") or None))

    def on_hook(self, request: Request) -> Response:
        if (request.content_length or 0) > self.max_body_bytes:
            return _json({"error": "body too large"}, 413)
        body = request.get_data(cache=False)[:self.max_body_bytes + 1]
        if len(body) > self.max_body_bytes:
            return _json({"error": "body too large"}, 413)
        if not webhook.verify(self.webhook_secret(), body, request.headers.get(webhook.HEADER)):
            warn("webhook refused", reason="bad or missing signature", remote=request.remote_addr)
            return _json({"error": "bad or missing signature"}, 401)
        if self._replayed(body):
            log("webhook duplicate ignored", event_type=request.headers.get("X-GitHub-Event"))
            return _json({"duplicate": True}, 200)
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            payload = {}
        self.on_push(payload if isinstance(payload, dict) else {})
        log("webhook accepted", event_type=request.headers.get("X-GitHub-Event"))
        return _json({"accepted": True}, 202)


class ListenError(Exception):
    """The listen address cannot be bound (in use, or not this host's); the message says which."""


class Server:
    """Waitress serving an Api on `listen` (`host:port`; port 0 picks a free one) in a thread."""

    def __init__(self, app: Api, listen: str, *, max_body_bytes: int = 1024 * 1024,
                 client_timeout: float = 30.0) -> None:
        host, _, port = listen.rpartition(":")
        try:
            self._server = create_server(app, host=host or "127.0.0.1", port=int(port), threads=4,
                                         ident="reconciler", max_request_body_size=max_body_bytes,
                                         channel_timeout=client_timeout, cleanup_interval=max(1, int(client_timeout / 2)))
        except OSError as exc:
            raise ListenError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
        self._thread = threading.Thread(target=self._server.run, name="http", daemon=True)

    @property
    def address(self) -> str:
        server: Any = self._server  # a TcpWSGIServer: one host and port were given
        return f"{server.effective_host}:{server.effective_port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Close every socket from inside the server's own loop (closing them from another thread
        races its select), let the loop end, then let requests in flight finish."""
        server: Any = self._server

        def close_all() -> None:
            for channel in list(server._map.values()):
                channel.close()

        if self._thread.is_alive():
            server.trigger.pull_trigger(close_all)
            self._thread.join(timeout=5)
        else:
            server.close()
        server.task_dispatcher.shutdown(timeout=5)
