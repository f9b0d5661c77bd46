"""Running `reconciler run` as a user does: a real process, its HTTP API, its logs, signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DaemonProcess:
    """`reconciler run --config CONFIG` in a subprocess, logs to `<log>`; stopped by the fixture."""

    def __init__(self, config: Path, log: Path, *args: str, env: dict[str, str] | None = None,
                 token: str | None = None) -> None:
        self.config, self.log, self.args = config, log, args
        self.env = {**os.environ, **(env or {})}
        #: sent with every request when the daemon requires a bearer token (`auth`)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DaemonProcess:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "reconciler.cli.main", "run", "--config", str(self.config),
                 "--listen", f"127.0.0.1:{self.port}", *self.args],
                stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=self.env, start_new_session=True)
        self.wait_for(lambda: self.get("/healthz") is not None, "the daemon to serve /healthz", 60)
        return self

    def get(self, path: str) -> Any:
        """The parsed JSON (or text) at `path`, None when the daemon does not answer."""
        try:
            with urllib.request.urlopen(urllib.request.Request(self.url + path, headers=self.headers),
                                        timeout=5) as response:
                body = response.read()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None
        try:
            return json.loads(body)
        except ValueError:
            return body.decode()

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        request = urllib.request.Request(self.url + path, data=body, headers={**self.headers, **headers}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def drift(self) -> dict[str, Any]:
        doc = self.get("/api/v1/drift")
        return doc if isinstance(doc, dict) else {"instances": [], "clusters": {}, "source": {}}

    def row(self, service: str, instance: str, cluster: str = "local") -> dict[str, Any] | None:
        return next((r for r in self.drift()["instances"] if (r["service"], r["instance"], r["cluster"])
                     == (service, instance, cluster)), None)

    def wait_for(self, check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"the daemon exited ({self.proc.returncode}) waiting for {what}:\n{self.tail()}")
            result = check()
            if result:
                return result
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{self.tail()}")

    def logs(self) -> list[dict[str, Any]]:
        """The structured log lines so far."""
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""

    def signal(self, sig: int) -> int:
        assert self.proc is not None
        os.killpg(self.proc.pid, sig)
        return self.proc.wait(timeout=60)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.signal(signal.SIGTERM)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
