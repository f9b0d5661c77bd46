"""A real Kubernetes control plane for tests: Python API and pytest plugin.

The processes (etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
kwok for fake nodes, all on 127.0.0.1) are built and run by the scripts in
tools/controlplane/ (see NOTES.md there); this module drives them.

Python API::

    cp = ControlPlane()                  # binaries: $CONTROLPLANE_BIN or build.sh
    cp.start(workdir, nodes=2)           # ~11 s; returns cp
    cp.kubectl("get", "nodes")           # CompletedProcess, raises KubectlError
    cp.kubectl_json("get", "pods", "-n", "x")
    cp.api_request("/api/v1/pods", token=...)   # (status, decoded JSON body)
    cp.kubeconfig, cp.bin_dir, cp.api_url, cp.ca_file, cp.admin_token, cp.workdir
    cp.stop()                            # idempotent; also `with ControlPlane() as cp:`

Nothing outlives the Python process: `start` registers an atexit hook and
SIGTERM/SIGHUP handlers that stop every running control plane, and
cluster.sh's watchdog (CONTROLPLANE_WATCH_PID) stops it even when this process
is SIGKILLed.

pytest plugin (``pytest_plugins = ["tests.support.controlplane"]`` in a
conftest, or ``-p tests.support.controlplane``):

* ``kube_controlplane`` (session): a started ControlPlane. Skips when the
  binaries are not built and ``go`` is not on PATH, unless RECONCILER_REQUIRE_KUBE
  is set (CI): then it fails. A first build (~12.5 min) streams its output.
* ``kube_namespace`` (function): a fresh namespace (its ``default``
  ServiceAccount exists, so pods can be created at once), deleted afterwards
  without waiting.
"""

from __future__ import annotations

import atexit
import ipaddress
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any, TypeVar

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "tools" / "controlplane"
BUILD_SH = TOOLS / "build.sh"
CLUSTER_SH = TOOLS / "cluster.sh"

REQUIRE_ENV = "RECONCILER_REQUIRE_KUBE"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
BINARIES = (*COMPONENTS, "kubectl")
COLD_BUILD_MINUTES = 12.5

T = TypeVar("T")


class ControlPlaneUnavailable(Exception):
    """The control plane cannot run here at all (no binaries and no Go to build them)."""


class ControlPlaneError(RuntimeError):
    """Building, starting or stopping the control plane failed."""


class KubectlError(subprocess.CalledProcessError):
    """A kubectl call failed; str() includes its stderr."""

    def __str__(self) -> str:
        err = (self.stderr or "").strip()
        return f"{super().__str__()}\n{err}" if err else super().__str__()


# ----------------------------------------------------------------- binaries


def _complete(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / b, os.X_OK) for b in BINARIES)


def find_bin_dir() -> Path | None:
    """The bin dir if every binary is already there ($CONTROLPLANE_BIN first), else None."""
    env = os.environ.get("CONTROLPLANE_BIN")
    if env and _complete(Path(env)):
        return Path(env)
    proc = subprocess.run([str(BUILD_SH), "--check"], capture_output=True, text=True, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode == 0 and lines and _complete(Path(lines[-1])):
        return Path(lines[-1])
    return None


def build(stream: IO[str] | None = None) -> Path:
    """Return the bin dir, building the binaries first if needed.

    The build's progress goes to ``stream`` (default: this process's stderr,
    inherited by build.sh). Raises ControlPlaneUnavailable when a build is
    needed and ``go`` is not on PATH, ControlPlaneError when the build fails.
    """
    found = find_bin_dir()
    if found is not None:
        return found
    if shutil.which("go") is None:
        raise ControlPlaneUnavailable(
            "the Kubernetes control plane binaries are not built and `go` is not on PATH "
            f"(install Go >= 1.26, then run {BUILD_SH.relative_to(REPO)})")
    out = stream if stream is not None else sys.stderr
    print(f"\n[controlplane] building etcd, kube-apiserver, kube-controller-manager, kube-scheduler, "
          f"kubectl and kwok from the Go module proxy; a first build takes about "
          f"{COLD_BUILD_MINUTES:g} minutes (later runs reuse the cache)", file=out, flush=True)
    started = time.monotonic()
    proc = subprocess.Popen([str(BUILD_SH)], stdout=subprocess.PIPE, text=True,
                            stderr=None if stream is None else subprocess.PIPE)
    last_lines: list[str] = []
    if stream is not None and proc.stderr is not None:
        for line in proc.stderr:
            stream.write(line)
            stream.flush()
            last_lines = (last_lines + [line])[-40:]
    stdout, _ = proc.communicate()
    lines = stdout.strip().splitlines()
    if proc.returncode != 0 or not lines or not _complete(Path(lines[-1])):
        raise ControlPlaneError(f"{BUILD_SH} failed with exit status {proc.returncode}"
                                + ("".join(["\n", *last_lines]) if last_lines else ""))
    print(f"[controlplane] build finished in {time.monotonic() - started:.0f} s", file=out, flush=True)
    return Path(lines[-1])


# ----------------------------------------------------------------- processes


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def processes_of(workdir: Path | str) -> dict[int, str]:
    """pid -> component name of every live control-plane process whose arguments
    point into workdir (found through /proc, with or without pid files)."""
    marker = f"={Path(workdir).resolve()}/".encode()
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            exe = os.readlink(f"/proc/{entry}/exe").removesuffix(" (deleted)")
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        name = os.path.basename(exe)
        if name in COMPONENTS and any(marker in a for a in args):
            found[int(entry)] = name
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _proc_net_address(hex_addr: str) -> tuple[str, int]:
    host, port = hex_addr.split(":")
    raw = bytes.fromhex(host)
    # /proc/net/* prints each 32-bit word in host (little-endian) byte order
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    if len(raw) == 4:
        return ".".join(str(b) for b in raw), int(port, 16)
    return str(ipaddress.IPv6Address(raw)), int(port, 16)


def listening_sockets(pids: dict[int, str]) -> list[dict[str, Any]]:
    """Listening TCP and bound UDP sockets of the given processes:
    dicts with pid, name, proto, address, port."""
    owner = {inode: pid for pid in pids for inode in _socket_inodes(pid)}
    result = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        lines = _read(Path(f"/proc/net/{proto}")).splitlines()[1:]
        for line in lines:
            f = line.split()
            if len(f) < 10 or f[9] not in owner:
                continue
            if proto.startswith("tcp") and f[3] != "0A":   # LISTEN
                continue
            address, port = _proc_net_address(f[1])
            pid = owner[f[9]]
            result.append({"pid": pid, "name": pids[pid], "proto": proto,
                           "address": address, "port": port})
    return result


# ----------------------------------------------------------------- cleanup on exit / signals

_LIVE: list[ControlPlane] = []
_STARTED: list[ControlPlane] = []          # for the pytest summary
_handlers_installed = False


def _stop_all() -> None:
    for cp in list(_LIVE):
        try:
            cp.stop(graceful=False)
        except Exception as exc:  # noqa: BLE001 - keep stopping the others
            print(f"[controlplane] stopping {cp.workdir} failed: {exc}", file=sys.stderr)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    _stop_all()
    previous = _previous_handlers.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
        return
    # default disposition: die of the same signal, as without this handler
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


_previous_handlers: dict[int, Any] = {}


def _install_handlers() -> None:
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(_stop_all)
    if threading.current_thread() is not threading.main_thread():
        return   # signal handlers can only be set from the main thread; the watchdog still covers us
    for sig in (signal.SIGTERM, signal.SIGHUP):
        previous = signal.getsignal(sig)
        if previous in (signal.SIG_IGN, None):
            continue
        _previous_handlers[sig] = previous
        signal.signal(sig, _on_signal)


# ----------------------------------------------------------------- the control plane


def wait_until(check: Callable[[], T | None], timeout: float = 60.0, interval: float = 0.2,
               what: str = "condition") -> T:
    """Call check() until it returns something truthy (returned) or timeout passes
    (TimeoutError naming the last result or exception)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = check()
        except Exception as exc:  # noqa: BLE001 - keep polling, report the last one
            last = exc
        else:
            if result:
                return result
            last = result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}; last result: {last!r}")
        time.sleep(interval)


class ControlPlane:
    """A control plane of plain processes on 127.0.0.1, started by tools/controlplane/cluster.sh."""

    def __init__(self, bin_dir: Path | str | None = None, *, watch_parent: bool = True,
                 stop_timeout: int = 10, up_timeout: float = 300.0) -> None:
        self.bin_dir: Path | None = Path(bin_dir) if bin_dir is not None else None
        self.watch_parent = watch_parent      # watchdog: stop when this process is gone
        self.stop_timeout = stop_timeout      # s of SIGTERM grace per tier before SIGKILL
        self.up_timeout = up_timeout
        self.workdir: Path | None = None
        self.env: dict[str, str] = {}
        self.start_seconds: float | None = None
        self.stop_seconds: float | None = None
        self._state = "new"                   # new -> starting -> running -> stopped
        self._up: subprocess.Popen[str] | None = None

    # -- lifecycle
    def start(self, workdir: Path | str, nodes: int = 2) -> ControlPlane:
        if self._state not in ("new", "stopped"):
            raise ControlPlaneError(f"control plane already {self._state} in {self.workdir}")
        if self.bin_dir is None:
            self.bin_dir = build()
        self.workdir = Path(workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        log_path = self.workdir / "controlplane-up.log"
        env = dict(os.environ, CONTROLPLANE_BIN=str(self.bin_dir))
        if self.watch_parent:
            env["CONTROLPLANE_WATCH_PID"] = str(os.getpid())
        _install_handlers()
        self._state = "starting"
        _LIVE.append(self)
        started = time.monotonic()
        try:
            with open(log_path, "w") as log:
                self._up = subprocess.Popen(
                    [str(CLUSTER_SH), "up", str(self.workdir), str(nodes)],
                    stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True, env=env)
                try:
                    stdout, _ = self._up.communicate(timeout=self.up_timeout)
                except subprocess.TimeoutExpired:
                    raise ControlPlaneError(
                        f"cluster.sh up did not finish in {self.up_timeout:g}s\n{self._log_tail(log_path)}"
                    ) from None
            if self._up.returncode != 0:
                raise ControlPlaneError(
                    f"cluster.sh up failed with exit status {self._up.returncode}\n{self._log_tail(log_path)}")
            env_file = Path(stdout.strip().splitlines()[-1])
            self.env = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
            self._up = None
            self.kubectl("get", "--raw", "/readyz")
        except BaseException:
            self.stop(graceful=False)
            raise
        self._state = "running"
        self.start_seconds = time.monotonic() - started
        _STARTED.append(self)
        return self

    def stop(self, *, graceful: bool = True) -> None:
        """Stop every process (SIGTERM, SIGKILL after stop_timeout; graceful=False: SIGKILL
        at once). Idempotent; raises ControlPlaneError if a process survives."""
        if self._state in ("new", "stopped") or self.workdir is None:
            return
        started = time.monotonic()
        try:
            up = self._up
            if up is not None and up.poll() is None:
                up.terminate()               # its traps stop what it had started
                try:
                    up.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    up.kill()
            args = [str(CLUSTER_SH), "down", str(self.workdir)] + ([] if graceful else ["--now"])
            with open(self.workdir / "controlplane-down.log", "a") as log:
                try:
                    subprocess.run(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL, check=False,
                                   timeout=4 * self.stop_timeout + 30,
                                   env=dict(os.environ, CONTROLPLANE_STOP_TIMEOUT=str(self.stop_timeout)))
                except subprocess.TimeoutExpired:
                    pass                     # the sweep below still kills everything
            left = self._sweep()
        finally:
            self._state = "stopped"
            if self in _LIVE:
                _LIVE.remove(self)
            self.stop_seconds = time.monotonic() - started
        if left:
            raise ControlPlaneError(f"processes of {self.workdir} survive SIGKILL: {left}")

    def _sweep(self) -> dict[int, str]:
        """SIGKILL whatever is left of this workdir; return what survives."""
        assert self.workdir is not None
        left = processes_of(self.workdir)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = processes_of(self.workdir)
        return left

    def __enter__(self) -> ControlPlane:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @staticmethod
    def _log_tail(path: Path, lines: int = 40) -> str:
        return "\n".join(_read(path).splitlines()[-lines:])

    # -- facts
    @property
    def running(self) -> bool:
        return self._state == "running"

    @property
    def kubeconfig(self) -> Path:
        return Path(self._env("KUBECONFIG"))

    @property
    def api_url(self) -> str:
        return self._env("KUBE_APISERVER_URL")

    @property
    def ca_file(self) -> Path:
        return Path(self._env("KUBE_CA_FILE"))

    @property
    def admin_token(self) -> str:
        """Static bearer token of a system:masters user."""
        return self._env("KUBE_ADMIN_TOKEN")

    @property
    def logs_dir(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "logs"

    def _env(self, key: str) -> str:
        if key not in self.env:
            raise ControlPlaneError("the control plane is not started")
        return self.env[key]

    def pids(self) -> dict[int, str]:
        """pid -> component name of this control plane's live processes."""
        return processes_of(self.workdir) if self.workdir is not None else {}

    def listening_sockets(self) -> list[dict[str, Any]]:
        return listening_sockets(self.pids())

    # -- clients
    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run the bin dir's kubectl against this cluster (never /usr/bin/kubectl)."""
        assert self.bin_dir is not None and self.workdir is not None
        cmd = [str(self.bin_dir / "kubectl"), f"--kubeconfig={self.kubeconfig}",
               f"--cache-dir={self.workdir / 'kube-cache'}", *args]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout,
                              check=False)
        if check and proc.returncode != 0:
            raise KubectlError(proc.returncode, cmd, proc.stdout, proc.stderr)
        return proc

    def kubectl_json(self, *args: str, timeout: float = 60.0) -> Any:
        """kubectl ARGS -o json, decoded."""
        return json.loads(self.kubectl(*args, "-o", "json", timeout=timeout).stdout)

    def api_request(self, path: str, *, method: str = "GET", token: str | None = None,
                    body: Any = None, timeout: float = 10.0) -> tuple[int, Any]:
        """One HTTPS request to the API server (bearer token, default: the admin token);
        returns (status, decoded JSON body or text); HTTP errors are returned, not raised."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.api_url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {token if token is not None else self.admin_token}",
            "Accept": "application/json", "Content-Type": "application/json"})
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def create_namespace(self, prefix: str = "test") -> str:
        """A new namespace whose default ServiceAccount exists (pods can be created at once)."""
        base = re.sub(r"[^a-z0-9-]+", "-", prefix.lower()).strip("-")[:40].strip("-") or "test"
        name = f"{base}-{uuid.uuid4().hex[:6]}"
        self.kubectl("create", "namespace", name)
        wait_until(lambda: self.kubectl("-n", name, "get", "serviceaccount", "default",
                                        check=False).returncode == 0,
                   timeout=30, what=f"serviceaccount {name}/default")
        return name

    def __repr__(self) -> str:
        return f"<ControlPlane {self._state} {self.workdir} {self.env.get('KUBE_APISERVER_URL', '')}>"


# ----------------------------------------------------------------- pytest plugin


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "kube: needs the real Kubernetes control plane (built from the Go module proxy)")


@pytest.fixture(scope="session")
def kube_controlplane(request: pytest.FixtureRequest,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A started control plane (2 Ready kwok nodes) shared by the whole session."""
    bin_dir = find_bin_dir()
    if bin_dir is None and shutil.which("go") is None:
        reason = "`go` is not on PATH and the control plane binaries are not built"
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{reason}; {REQUIRE_ENV} is set, so the kube tests must not be skipped",
                        pytrace=False)
        pytest.skip(f"real control plane unavailable: {reason}")
    failure = None
    cp = ControlPlane(bin_dir)
    try:
        if bin_dir is None:
            capman = request.config.pluginmanager.getplugin("capturemanager")
            if capman is not None:
                with capman.global_and_fixture_disabled():   # show the long build as it goes
                    cp.bin_dir = build()
            else:
                cp.bin_dir = build()
        cp.start(tmp_path_factory.mktemp("controlplane"), nodes=2)
    except (ControlPlaneError, ControlPlaneUnavailable) as exc:
        failure = f"the kube control plane could not be started: {exc}"
    if failure is not None:
        pytest.fail(failure, pytrace=False)
    try:
        yield cp
    finally:
        cp.stop()


@pytest.fixture
def kube_namespace(kube_controlplane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test; deleted afterwards (without waiting)."""
    name = kube_controlplane.create_namespace(request.node.name)
    yield name
    kube_controlplane.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found",
                              check=False)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for cp in _STARTED:
        stop = f"{cp.stop_seconds:.1f} s" if cp.stop_seconds is not None else "not yet"
        terminalreporter.write_line(
            f"kube control plane: start {cp.start_seconds or 0:.1f} s, stop {stop}; logs in {cp.logs_dir}")
