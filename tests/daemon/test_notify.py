"""Outgoing webhook notifications: the transitions (pure) and the Notifier against a real local
HTTP server (retries, no retry on 4xx, a dead receiver never blocks, no secret leaks)."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from reconciler.daemon import logs
from reconciler.daemon.notify import Notifier, Tracker, transitions
from reconciler.engine.actions import Halt, PruneDecision
from reconciler.report.status import Row

C = "norcal-prod"
AT = "2024-05-01T12:00:00.000Z"
CLEAR = PruneDecision(0, False, None)


def row(status: str, instance: str = "main", message: str = "", since: str | None = None) -> Row:
    return Row(C, "example", instance, status, message or f"{status.lower()} message",
               desired={"git_sha": "a" * 40, "config_sha": "config01", "replicas": 3},
               live={"git_sha": "a" * 40, "config_sha": "config01", "replicas": 3, "ready_replicas": 1},
               since=since, deploy_group="prod.everything")


def halt(sha: str = "config02", rolled_back_to: str | None = None) -> Halt:
    return Halt("prod.everything", "example", "main", sha, f"rollout of {sha} failed: CrashLoopBackOff",
                rolled_back_to)


def step(previous: list[Row] | None, rows: list[Row]) -> list[dict[str, Any]]:
    return transitions(C, previous, rows, [] if previous is not None else None, [],
                       CLEAR if previous is not None else None, CLEAR, at=AT)


# ---------------------------------------------------------------------------- transitions
def test_into_degraded_once_not_while_degraded_and_again_after_recovering() -> None:
    synced, degraded = [row("Synced"), row("Synced", "canary")], [row("Degraded", since=AT), row("Synced", "canary")]
    assert step(synced, [row("Progressing"), row("Synced", "canary")]) == []
    events = step([row("Progressing"), row("Synced", "canary")], degraded)
    assert events == [{
        "type": "degraded", "cluster": C, "service": "example", "instance": "main",
        "deploy_group": "prod.everything", "message": f"example.main is Degraded on {C}: degraded message",
        "at": AT, "initial": False, "status": "Degraded", "previous_status": "Progressing",
        "status_message": "degraded message", "since": AT,
        "desired": {"git_sha": "a" * 40, "config_sha": "config01"},
        "live": {"git_sha": "a" * 40, "config_sha": "config01"},
        "train": {"halted": False, "failed_config_sha": None}}]
    assert step(degraded, [row("Degraded", message="rolled back to x; git asks for y"), row("Synced", "canary")]) == []
    assert step(degraded, synced) == []
    again = step(synced, degraded)
    assert [(e["type"], e["instance"], e["previous_status"]) for e in again] == [("degraded", "main", "Synced")]


def test_an_instance_new_to_the_rows_and_already_degraded_is_reported() -> None:
    events = step([row("Synced", "canary")], [row("Synced", "canary"), row("Degraded")])
    assert [(e["instance"], e["previous_status"]) for e in events] == [("main", None)]


def test_first_cycle_reports_what_is_degraded_once_marked_initial() -> None:
    tracker = Tracker()
    first = tracker.observe(C, [row("Degraded", since=AT), row("Synced", "canary")], [halt()], CLEAR, at=AT)
    assert [(e["type"], e["initial"]) for e in first] == [("degraded", True), ("train_halted", True)]
    assert first[0]["since"] == AT and first[0]["previous_status"] is None
    # the restart's own second cycle, and every one after: nothing while it lasts
    assert tracker.observe(C, [row("Degraded", since=AT), row("Synced", "canary")], [halt()], CLEAR) == []
    # other clusters are tracked apart
    assert len(tracker.observe("other", [row("Degraded")], [], CLEAR)) == 1


def test_first_cycle_can_stay_silent() -> None:
    tracker = Tracker(report_initial=False)
    refused = PruneDecision(3, True, "prune is off")
    assert tracker.observe(C, [row("Degraded")], [halt()], refused) == []
    assert tracker.observe(C, [row("Degraded")], [halt()], refused) == []
    assert [e["type"] for e in tracker.observe(C, [row("Degraded")], [halt("config03")], refused)] == ["train_halted"]


def test_halted_trains() -> None:
    def halts(previous: list[Halt], now: list[Halt]) -> list[dict[str, Any]]:
        return transitions(C, [], [], previous, now, CLEAR, CLEAR, at=AT)

    appeared = halts([], [halt()])
    assert appeared == [{
        "type": "train_halted", "cluster": C, "service": "example", "instance": "main",
        "deploy_group": "prod.everything",
        "message": f"train of deploy group prod.everything halted on {C}: example.main: "
                   "rollout of config02 failed: CrashLoopBackOff",
        "at": AT, "initial": False, "failed_config_sha": "config02", "previous_failed_config_sha": None,
        "rolled_back_to": None, "reason": "rollout of config02 failed: CrashLoopBackOff"}]
    assert halts([halt()], [halt()]) == []
    assert halts([halt()], [halt(rolled_back_to="config01")]) == []  # rolled back: the same halt
    moved = halts([halt(rolled_back_to="config01")], [halt("config03")])
    assert [(e["failed_config_sha"], e["previous_failed_config_sha"]) for e in moved] == [("config03", "config02")]
    assert halts([halt()], []) == []  # lifted: no event
    assert len(halts([], [halt()])) == 1  # and halted again


def test_prune_newly_refused() -> None:
    orphans = (("Deployment", "example", "example-old", "example", "old"),
               ("PodDisruptionBudget", "example", "example-old", "example", "old"))
    off = PruneDecision(2, True, "prune is off", orphans)
    mass = PruneDecision(2, True, "would delete 2 of 3 managed workloads (67%), over max_prune_fraction 0.5", orphans)

    def prune(previous: PruneDecision | None, now: PruneDecision) -> list[dict[str, Any]]:
        return transitions(C, [], [], [], [], previous, now, at=AT)

    assert prune(CLEAR, off) == [{
        "type": "prune_refused", "cluster": C, "service": None, "instance": None, "deploy_group": None,
        "message": f"2 object(s) no longer in git not deleted on {C}: prune is off", "at": AT, "initial": False,
        "reason": "prune is off", "candidates": 2, "services": ["example"], "previous_reason": None}]
    assert prune(off, off) == []
    assert [e["previous_reason"] for e in prune(off, mass)] == ["prune is off"]
    assert prune(mass, PruneDecision(2, False, None, orphans)) == []  # allowed: nothing to say
    assert prune(PruneDecision(2, False, None), mass)[0]["reason"] == mass.reason
    assert prune(None, off)[0]["initial"] is True
    assert transitions(C, [], [], [], [], None, off, report_initial=False) == []


def test_nothing_on_steady_state_and_events_are_json() -> None:
    rows = [row("Synced"), row("Waiting", "canary"), row("OutOfSync", "batch"), row("Orphaned", "old")]
    assert transitions(C, rows, rows, [], [], CLEAR, CLEAR) == []
    assert transitions(C, None, rows, None, [], None, CLEAR) == []  # first cycle, nothing wrong
    refused = PruneDecision(1, True, "prune is off")
    assert transitions(C, rows, rows, [halt()], [halt()], refused, refused) == []
    event = transitions(C, rows, [row("Degraded")], [], [halt()], CLEAR, refused)
    assert [e["type"] for e in event] == ["degraded", "train_halted", "prune_refused"]
    assert all(e["at"].endswith("Z") for e in event)
    json.dumps(event)


def test_tracker_is_consistent_under_concurrent_cycles() -> None:
    tracker = Tracker(report_initial=False)
    tracker.observe(C, [row("Synced")], [], CLEAR)
    found: list[dict[str, Any]] = []
    lock = threading.Lock()

    def cycle() -> None:
        events = tracker.observe(C, [row("Degraded")], [], CLEAR)
        with lock:
            found.extend(events)

    threads = [threading.Thread(target=cycle) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 1


# ---------------------------------------------------------------------------- Notifier, for real
class Receiver:
    """A real HTTP server on 127.0.0.1 answering with `statuses` in turn (then 200)."""

    def __init__(self, statuses: list[int] | None = None, headers: dict[str, str] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.extra = headers or {}
        self.requests: list[dict[str, Any]] = []  # every request, with the status it got
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers),
                                              "body": body.decode(), "status": status})
                self.send_response(status)
                for name, value in receiver.extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def accepted(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(r["body"]) for r in self.requests if r["status"] < 300]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def lines() -> Iterator[list[str]]:
    """Every reconciler log line, as the daemon writes it (JSON)."""
    out: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            out.append(self.format(record))

    handler = Collect()
    handler.setFormatter(logs._Formatter(as_json=True))
    level = logs.LOGGER.level
    logs.LOGGER.addHandler(handler)
    logs.LOGGER.setLevel(logging.INFO)
    yield out
    logs.LOGGER.removeHandler(handler)
    logs.LOGGER.setLevel(level)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def wait_for(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def logged(lines: list[str], event: str, port: int) -> list[dict[str, Any]]:
    """The log lines of `event` about the receiver on `port` (other tests' threads may still log)."""
    found = [json.loads(line) for line in lines]
    return [f for f in found if f["event"] == event and f.get("receiver") == f"http://127.0.0.1:{port}"]


def events(n: int) -> list[dict[str, Any]]:
    return [{"type": "degraded", "cluster": C, "service": "example", "instance": f"i{i}", "deploy_group": None,
             "message": f"event {i}", "at": AT, "initial": False} for i in range(n)]


def test_retries_5xx_then_delivers_each_event_exactly_once_in_order(receiver: Receiver, lines: list[str]) -> None:
    receiver.statuses = [503, 503]
    notifier = Notifier("HOOK", environ={"HOOK": f"http://127.0.0.1:{receiver.port}/hook"}, backoff=0.01,
                        max_backoff=0.05, timeout=2.0)
    sent = events(3)
    notifier.send(sent[:1])
    notifier.send(sent[1:])
    wait_for(lambda: notifier.delivered == 3)
    assert notifier.close(5.0) is True
    assert receiver.accepted() == sent
    assert [r["status"] for r in receiver.requests] == [503, 503, 200, 200, 200]
    assert all(r["path"] == "/hook" and r["headers"]["Content-Type"] == "application/json"
               for r in receiver.requests)
    assert notifier.failed == 0 and notifier.dropped == 0
    retried = logged(lines, "notification retried", receiver.port)
    assert [(r["attempt"], r["error"]) for r in retried] == [(1, "HTTP 503"), (2, "HTTP 503")]


def test_429_honours_retry_after_and_gives_up_after_max_attempts(lines: list[str]) -> None:
    busy = Receiver([429] * 10, headers={"Retry-After": "0"})
    try:
        notifier = Notifier("HOOK", environ={"HOOK": f"http://127.0.0.1:{busy.port}/"}, backoff=5.0,
                            max_attempts=3)
        started = time.monotonic()
        notifier.send(events(1))
        wait_for(lambda: notifier.failed == 1)
        assert time.monotonic() - started < 4.0  # Retry-After 0, not the 5 s backoff
        assert len(busy.requests) == 3
        assert notifier.close(1.0) is True
        assert [r["attempts"] for r in logged(lines, "notification not delivered", busy.port)] == [3]
    finally:
        busy.close()


@pytest.mark.parametrize("status", [400, 404, 302])
def test_other_4xx_and_redirects_are_not_retried(status: int, lines: list[str]) -> None:
    refusing = Receiver([status], headers={"Location": "http://127.0.0.1:9/elsewhere"} if status == 302 else None)
    try:
        notifier = Notifier("HOOK", environ={"HOOK": f"http://127.0.0.1:{refusing.port}/hook"}, backoff=0.01)
        notifier.send(events(2))
        wait_for(lambda: notifier.failed + notifier.delivered == 2)
        notifier.close(2.0)
        # the refused event is tried once, and the next one still goes out
        assert [r["status"] for r in refusing.requests] == [status, 200]
        assert (notifier.failed, notifier.delivered) == (1, 1)
        assert [r["error"] for r in logged(lines, "notification not delivered", refusing.port)] == [f"HTTP {status}"]
    finally:
        refusing.close()


def test_a_receiver_that_never_answers_blocks_neither_send_nor_close(lines: list[str]) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # connections complete in the backlog; nobody ever reads or answers
    try:
        port = silent.getsockname()[1]
        notifier = Notifier("HOOK", environ={"HOOK": f"http://127.0.0.1:{port}/hook"}, timeout=30.0,
                            backoff=0.01)
        for _ in range(5):
            started = time.perf_counter()
            notifier.send(events(3))
            assert time.perf_counter() - started < 0.05
        started = time.monotonic()
        assert notifier.close(0.5) is False
        assert time.monotonic() - started < 0.7
        assert any('"notifications not delivered before shutdown"' in line for line in lines)
        assert notifier.delivered == 0
        notifier.send(events(1))  # closed: dropped, still immediate
    finally:
        silent.close()


def test_timeouts_are_retried_then_given_up(lines: list[str]) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    try:
        notifier = Notifier("HOOK", environ={"HOOK": f"http://127.0.0.1:{silent.getsockname()[1]}/"},
                            timeout=0.2, backoff=0.01, max_attempts=2)
        notifier.send(events(1))
        wait_for(lambda: notifier.failed == 1)
        assert notifier.close(1.0) is True
        retried = logged(lines, "notification retried", silent.getsockname()[1])
        assert len(retried) == 1 and "timed out" in retried[0]["error"]
    finally:
        silent.close()


def test_a_full_queue_drops_the_oldest_with_a_count(lines: list[str]) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    try:
        notifier = Notifier("HOOK", environ={"HOOK": f"http://127.0.0.1:{silent.getsockname()[1]}/"},
                            timeout=30.0, max_queue=2)
        notifier.send(events(1))
        wait_for(lambda: notifier.pending() == 1 and not notifier._queue)  # the first is in flight
        notifier.send(events(5))
        assert list(notifier._queue) == events(5)[3:]  # the newest two wait
        assert notifier.dropped == 3
        full = [json.loads(line) for line in lines if '"notification queue full; oldest events dropped"' in line]
        assert [(f["dropped"], f["dropped_total"], f["level"]) for f in full] == [(3, 3, "warning")]
        notifier.close(0.1)
    finally:
        silent.close()


def test_the_url_password_is_never_logged_nor_sent(monkeypatch: pytest.MonkeyPatch, lines: list[str]) -> None:
    flaky = Receiver([503])
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()  # nothing listens there: connection refused
    try:
        monkeypatch.setenv("RECONCILER_NOTIFY_URL", f"http://user:secret@127.0.0.1:{flaky.port}/hook?token=t0ken")
        notifier = Notifier("RECONCILER_NOTIFY_URL", backoff=0.01)
        notifier.send(events(2))
        wait_for(lambda: notifier.delivered == 2)
        monkeypatch.setenv("RECONCILER_NOTIFY_URL", f"http://user:secret@127.0.0.1:{dead_port}/hook")
        notifier.send(events(1))  # read at delivery time: the new URL
        wait_for(lambda: notifier.failed == 1)
        notifier.close(2.0)
        assert [r["status"] for r in flaky.requests] == [503, 200, 200]
        for request in flaky.requests:
            assert request["path"] == "/hook?token=t0ken"
            assert "secret" not in request["body"] and "t0ken" not in request["body"]
            assert base64.b64decode(request["headers"]["Authorization"].split()[1]) == b"user:secret"
        assert lines and not [line for line in lines if "secret" in line or "t0ken" in line or "user:" in line]
        assert any(f'"receiver": "http://127.0.0.1:{flaky.port}"' in line for line in lines)
        refused = logged(lines, "notification not delivered", dead_port)
        assert refused and refused[0]["receiver"] == f"http://127.0.0.1:{dead_port}"
        assert refused[0]["error"] == "ConnectionRefusedError: [Errno 111] Connection refused"
    finally:
        flaky.close()


def test_no_url_set_drops_with_one_warning_and_disabled_does_nothing(receiver: Receiver, lines: list[str]) -> None:
    env: dict[str, str] = {}
    notifier = Notifier("HOOK", environ=env, backoff=0.01)
    notifier.send(events(2))
    wait_for(lambda: notifier.failed == 2)
    assert sum('"notify URL not set; events are dropped until it is"' in line for line in lines) == 1
    env["HOOK"] = f"http://127.0.0.1:{receiver.port}/"
    notifier.send(events(1))
    wait_for(lambda: notifier.delivered == 1)
    env["HOOK"] = "ftp://user:secret@example.com/x"
    notifier.send(events(1))
    wait_for(lambda: notifier.failed == 3)
    assert notifier.close(1.0) is True
    assert any('"notify URL unusable; event dropped"' in line for line in lines)
    assert not [line for line in lines if "secret" in line]

    disabled = Notifier(None)
    assert not disabled.enabled
    disabled.send(events(3))
    assert disabled.pending() == 0 and disabled._thread is None and disabled.close(0.1) is True
