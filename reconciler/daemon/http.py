"""The daemon's HTTP side: routes (Werkzeug) served by Waitress; no hand-written HTTP parsing.

GET  /                         the report page (HTML, no external assets)
GET  /healthz                  the process is alive
GET  /readyz                   sources read and clusters reachable (503 with the reasons if not)
GET  /metrics                  Prometheus
GET  /api/v1/drift             the drift report (JSON); ?cluster=C&service=S narrow it
GET  /api/v1/status/<service>  the rows of one service (JSON)
POST /api/v1/hooks/git         a git push: HMAC-checked, then an immediate poll (202); 401 if unsigned
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

from waitress.server import create_server
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from reconciler.daemon import page, webhook
from reconciler.daemon.logs import log, warn
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.state import DaemonState
from reconciler.report.document import status_document
from reconciler.scrub import scrub_bytes

#: The webhook body is read up to this size (a push event is kilobytes).
MAX_HOOK_BODY = 5 * 1024 * 1024


def _json(doc: Any, status: int = 200) -> Response:
    return Response(json.dumps(doc, indent=2) + "\n", status=status, mimetype="application/json")


class Api:
    """The WSGI application. `on_push(payload)` is called for every correctly signed webhook."""

    def __init__(self, state: DaemonState, metrics: Metrics, *, webhook_secret: Callable[[], bytes | None],
                 on_push: Callable[[dict[str, Any]], None],
                 versions: Callable[[str], dict[str, Any]] | None = None) -> None:
        self.state = state
        self.metrics = metrics
        self.webhook_secret = webhook_secret
        self.on_push = on_push
        #: service -> cluster -> (service, instance) -> git sha -> running pods (read live)
        self.versions = versions or (lambda service: {})
        self.urls = Map([
            Rule("/", endpoint="page", methods=["GET"]),
            Rule("/healthz", endpoint="healthz", methods=["GET"]),
            Rule("/readyz", endpoint="readyz", methods=["GET"]),
            Rule("/metrics", endpoint="metrics", methods=["GET"]),
            Rule("/api/v1/drift", endpoint="drift", methods=["GET"]),
            Rule("/api/v1/status/<service>", endpoint="status", methods=["GET"]),
            Rule("/api/v1/hooks/git", endpoint="hook", methods=["POST"]),
        ])

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        try:
            endpoint, args = self.urls.bind_to_environ(environ).match()
            response: Response = getattr(self, f"on_{endpoint}")(request, **args)
        except HTTPException as exc:  # errors are JSON too, with the reason in `error`
            response = _json({"error": exc.description or exc.name}, exc.code or 500)
        response.set_data(scrub_bytes(response.get_data()))  # no credential leaves the process
        return response(environ, start_response)

    def on_page(self, request: Request) -> Response:
        return Response(page.render(self.state.drift()), mimetype="text/html")

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

    def on_hook(self, request: Request) -> Response:
        body = request.get_data(cache=False)[:MAX_HOOK_BODY + 1]
        if len(body) > MAX_HOOK_BODY:
            return _json({"error": "body too large"}, 413)
        if not webhook.verify(self.webhook_secret(), body, request.headers.get(webhook.HEADER)):
            warn("webhook refused", reason="bad or missing signature", remote=request.remote_addr)
            return _json({"error": "bad or missing signature"}, 401)
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

    def __init__(self, app: Api, listen: str) -> None:
        host, _, port = listen.rpartition(":")
        try:
            self._server = create_server(app, host=host or "127.0.0.1", port=int(port), threads=4,
                                         ident="reconciler")
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
