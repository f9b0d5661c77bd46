"""Optional outgoing webhook: one JSON POST per notable transition (`notify.url_env`).

Two parts:

- `transitions` (pure) compares one cycle's rows, halted trains and prune decision of a cluster
  with the previous cycle's and returns the events: an instance turning `Degraded`
  (`degraded`), a deploy group's train halting or halting on another config_sha
  (`train_halted`), a prune turning refused or refused for another reason (`prune_refused`).
  Nothing is repeated while a state lasts; leaving it and coming back is a new event.
  `Tracker` keeps the previous state per cluster for the daemon (thread-safe).
- `Notifier` POSTs the events from a background thread through a bounded queue, so a slow or
  dead receiver never holds up a cycle: when the queue is full the oldest events are dropped
  (with a warning that counts them). Connection errors, timeouts, 429 and 5xx are retried with
  exponential backoff (tenacity, a bounded number of attempts, `Retry-After` honoured up to the
  backoff cap); other 4xx and redirects are not. `close(timeout)` delivers what it can in time.

The start of a process (no previous state for a cluster): what is already Degraded, halted or
refused is reported once, marked `"initial": true`, so a restart sends at most one event per
current problem and never repeats it afterwards (`report_initial=False` sends nothing for what
was already so). A degraded event carries the row's `since` (derived from the cluster), which
stays the same across restarts: a receiver can drop initial events whose (cluster, service,
instance, since) it has already seen. Several replicas: every replica should `observe` (so a
new lease holder knows what was already reported) and only the lease holder `send`.

Event shape: `{"type", "cluster", "service", "instance", "deploy_group", "message", "at",
"initial", ...details}`. Payloads carry names, shas, statuses and the reconciler's own messages,
never configuration values or the receiver's URL. The URL is read from the environment at each
delivery (a rotation needs no restart); it may embed credentials (`user:password@`, sent as
HTTP Basic auth) or a token in its path, so only its scheme and host are ever logged.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_when_event_set
from tenacity.wait import wait_exponential

from reconciler.daemon.logs import error, log, warn
from reconciler.engine.marks import rfc3339
from reconciler.engine.actions import Halt, PruneDecision
from reconciler.report.status import Row
from reconciler.retry_after import retry_after_seconds
from reconciler.scrub import scrub_bytes

#: The transitions `transitions` finds; the daemon adds freeze_holding, the promoter promoted and
#: release_<state>, `apply --override-freeze` freeze_overridden (docs/operator-guide.md).
EVENT_TYPES = ("degraded", "train_halted", "prune_refused")


# ---------------------------------------------------------------------------- transitions (pure)
def event(kind: str, cluster: str | None, service: str | None, instance: str | None, deploy_group: str | None,
          message: str, at: str | None = None, initial: bool = False, **details: Any) -> dict[str, Any]:
    """One event in the shape every receiver gets (see the module docstring); `at` default now."""
    return {"type": kind, "cluster": cluster, "service": service, "instance": instance,
            "deploy_group": deploy_group, "message": message, "at": at or rfc3339(datetime.now(UTC)),
            "initial": initial, **details}


def _shas(versions: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if versions is None:
        return None
    return {"git_sha": versions.get("git_sha"), "config_sha": versions.get("config_sha")}


def transitions(cluster: str, previous_rows: Sequence[Row] | None, rows: Sequence[Row],
                previous_halts: Sequence[Halt] | None, halts: Sequence[Halt],
                previous_prune: PruneDecision | None, prune: PruneDecision, *,
                at: str | None = None, report_initial: bool = True) -> list[dict[str, Any]]:
    """The events of `cluster` between the previous cycle and this one, in order: degraded
    instances (row order), halted trains, refused prune. A `previous_*` of None means unknown
    (the first cycle): the current problems are reported with `initial: true`, or not at all
    when `report_initial` is false. `at` (RFC 3339) defaults to now."""
    stamp = at if at is not None else rfc3339(datetime.now(UTC))
    events: list[dict[str, Any]] = []

    if previous_rows is not None or report_initial:
        before = {(r.service, r.instance): r.status for r in previous_rows or ()}
        for row in rows:
            was = before.get((row.service, row.instance))
            if row.status != "Degraded" or (previous_rows is not None and was == "Degraded"):
                continue
            train = row.train or {}
            events.append(event(
                "degraded", cluster, row.service, row.instance, row.deploy_group,
                f"{row.service}.{row.instance} is Degraded on {cluster}: {row.message}", stamp,
                previous_rows is None, status="Degraded", previous_status=was, status_message=row.message,
                since=row.since, desired=_shas(row.desired), live=_shas(row.live),
                train={"halted": bool(train.get("halted")), "failed_config_sha": train.get("failed_config_sha")}))

    if previous_halts is not None or report_initial:
        halted = {(h.service, h.deploy_group): h.failed_config_sha for h in previous_halts or ()}
        for halt in halts:
            if previous_halts is not None and halted.get((halt.service, halt.deploy_group)) == halt.failed_config_sha:
                continue
            message = (f"train of deploy group {halt.deploy_group} halted on {cluster}: "
                       f"{halt.service}.{halt.instance}: {halt.reason}")
            events.append(event(
                "train_halted", cluster, halt.service, halt.instance, halt.deploy_group, message, stamp,
                previous_halts is None, failed_config_sha=halt.failed_config_sha,
                previous_failed_config_sha=halted.get((halt.service, halt.deploy_group)),
                rolled_back_to=halt.rolled_back_to,
                reason=halt.reason))

    if prune.refused and (report_initial if previous_prune is None
                          else not previous_prune.refused or previous_prune.reason != prune.reason):
        services = sorted({o[3] for o in prune.orphans if o[3]})
        events.append(event(
            "prune_refused", cluster, None, None, None,
            f"{prune.candidates} object(s) no longer in git not deleted on {cluster}: {prune.reason}", stamp,
            previous_prune is None, reason=prune.reason, candidates=prune.candidates, services=services,
            previous_reason=previous_prune.reason if previous_prune is not None and previous_prune.refused
            else None))
    return events


@dataclass(frozen=True)
class _Seen:
    rows: tuple[Row, ...]
    halts: tuple[Halt, ...]
    prune: PruneDecision


class Tracker:
    """The previous cycle of each cluster, so that `observe` returns only what changed
    (thread-safe: a cluster's reconcile and resync cycles may finish concurrently)."""

    def __init__(self, *, report_initial: bool = True) -> None:
        self.report_initial = report_initial
        self._lock = threading.Lock()
        self._seen: dict[str, _Seen] = {}

    def observe(self, cluster: str, rows: Sequence[Row], halts: Sequence[Halt], prune: PruneDecision, *,
                at: str | None = None) -> list[dict[str, Any]]:
        """Record this cycle of `cluster`; the events since the previous one (see `transitions`)."""
        with self._lock:
            seen = self._seen.get(cluster)
            events = transitions(cluster, seen.rows if seen else None, rows, seen.halts if seen else None, halts,
                                 seen.prune if seen else None, prune, at=at, report_initial=self.report_initial)
            self._seen[cluster] = _Seen(tuple(rows), tuple(halts), prune)
        return events

    def forget(self, cluster: str) -> None:
        """Drop what is known of `cluster` (its next cycle counts as a first one)."""
        with self._lock:
            self._seen.pop(cluster, None)


# ---------------------------------------------------------------------------- delivery
@dataclass(frozen=True)
class _Target:
    """A receiver URL taken apart: what to request, the Basic auth it embeds, what may be logged."""

    url: str
    where: str  # scheme://host[:port], the only part ever logged
    authorization: str | None
    secrets: tuple[str, ...]  # substrings never to let into a log line

    @classmethod
    def parse(cls, raw: str) -> _Target:
        parts = urllib.parse.urlsplit(raw.strip())
        host = parts.hostname
        if parts.scheme not in ("http", "https") or not host:
            raise ValueError("not an http(s) URL with a host")
        port = parts.port  # ValueError when malformed
        netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port is not None else "")
        url = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        authorization = None
        secrets = [raw, url]
        if parts.username is not None or parts.password is not None:
            user = urllib.parse.unquote(parts.username or "")
            password = urllib.parse.unquote(parts.password or "")
            authorization = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            secrets += [parts.password or "", password, authorization]
        if parts.path not in ("", "/"):
            secrets.append(parts.path)
        if parts.query:
            secrets.append(parts.query)
        return cls(url, f"{parts.scheme}://{netloc}", authorization,
                   tuple(sorted({s for s in secrets if s}, key=len, reverse=True)))

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


class _Failed(Exception):
    """A delivery attempt that failed; `retryable` for connection errors, timeouts, 429, 5xx."""

    def __init__(self, text: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.retryable = retryable
        self.retry_after = retry_after


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are answered as errors: a POST (and its credentials) never follows one."""

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                         headers: http.client.HTTPMessage, newurl: str) -> urllib.request.Request | None:
        return None


def _describe(exc: BaseException) -> str:
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, BaseException):
        text = str(reason)
        return f"{type(reason).__name__}: {text}" if text else type(reason).__name__
    return str(reason)


class Notifier:
    """Delivers events to the URL in the environment variable `url_env` (None: disabled), from a
    background thread. `send` never blocks; `close` stops it. Thread-safe.

    `timeout`: seconds per HTTP request (connect, and each read); `max_attempts` per event;
    `backoff`, `max_backoff`: the exponential wait between attempts; `max_queue`: events waiting
    at most (the oldest go first). `environ`: where the variable is read (os.environ)."""

    def __init__(self, url_env: str | None, *, timeout: float = 5.0, max_attempts: int = 5,
                 backoff: float = 1.0, max_backoff: float = 30.0, max_queue: int = 1000,
                 environ: Mapping[str, str] | None = None) -> None:
        if max_queue < 1 or max_attempts < 1 or timeout <= 0:
            raise ValueError("max_queue and max_attempts must be >= 1 and timeout > 0")
        self.url_env = url_env
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_queue = max_queue
        self._environ: Mapping[str, str] = environ if environ is not None else os.environ
        self._opener = urllib.request.build_opener(_NoRedirect())
        self._opener.addheaders = [("User-Agent", "reconciler-notify/1")]
        self._cond = threading.Condition()
        self._queue: deque[dict[str, Any]] = deque()
        self._busy = False
        self._closing = False
        self._abort = threading.Event()
        self._thread: threading.Thread | None = None
        self._unset_warned = False
        #: Counters: events delivered, given up (attempts exhausted, no URL, 4xx), dropped unsent.
        self.delivered = 0
        self.failed = 0
        self.dropped = 0

    @property
    def enabled(self) -> bool:
        return self.url_env is not None

    def send(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Queue `events` for delivery, in order; returns at once."""
        if self.url_env is None:
            return
        dropped = refused = 0
        with self._cond:
            for event in events:
                if self._closing:
                    refused += 1
                    continue
                if len(self._queue) >= self.max_queue:
                    self._queue.popleft()
                    dropped += 1
                self._queue.append(dict(event))
            self.dropped += dropped + refused
            if self._queue and self._thread is None and not self._closing:
                self._thread = threading.Thread(target=self._run, name="reconciler-notify", daemon=True)
                self._thread.start()
            self._cond.notify_all()
        if dropped:
            warn("notification queue full; oldest events dropped", dropped=dropped, dropped_total=self.dropped,
                 max_queue=self.max_queue)
        if refused:
            warn("notifier closed; events dropped", dropped=refused)

    def pending(self) -> int:
        """Events queued or being delivered."""
        with self._cond:
            return len(self._queue) + (1 if self._busy else 0)

    def close(self, timeout: float = 5.0) -> bool:
        """Accept nothing more, deliver what is queued for at most `timeout` seconds, then give up
        on the rest (an attempt in flight is abandoned to its daemon thread). True when all was
        delivered (or given up after its attempts) in time."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                self._abort.set()
                with self._cond:
                    self._cond.notify_all()
                    left = len(self._queue) + (1 if self._busy else 0)
                    self.dropped += left
                warn("notifications not delivered before shutdown", undelivered=left)
                return False
        return True

    # ------------------------------------------------------------------ worker
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue or self._abort.is_set():
                    return
                event = self._queue.popleft()
                self._busy = True
            try:
                self._deliver(event)
            except Exception as exc:  # noqa: BLE001 - the worker must outlive any one event
                self._count(failed=1)
                error("notification crashed", type=event.get("type"), error=type(exc).__name__)
            finally:
                with self._cond:
                    self._busy = False

    def _pause(self, seconds: float) -> None:
        """The backoff between attempts, cut short when `close` gives up."""
        self._abort.wait(seconds)

    def _count(self, *, delivered: int = 0, failed: int = 0) -> None:
        with self._cond:
            self.delivered += delivered
            self.failed += failed

    def _url(self) -> str | None:
        value = self._environ.get(self.url_env or "") or None
        if value is None and not self._unset_warned:
            warn("notify URL not set; events are dropped until it is", env=self.url_env)
        self._unset_warned = value is None
        return value

    def _deliver(self, event: dict[str, Any]) -> None:
        raw = self._url()
        if raw is None:
            self._count(failed=1)
            return
        try:
            target = _Target.parse(raw)
        except ValueError:
            self._count(failed=1)
            scheme = urllib.parse.urlsplit(raw).scheme if "://" in raw else ""
            warn("notify URL unusable; event dropped", env=self.url_env, scheme=scheme or None)
            return
        body = scrub_bytes(json.dumps(event, default=str).encode())
        exponential = wait_exponential(multiplier=self.backoff, max=self.max_backoff)

        def wait(state: RetryCallState) -> float:
            failure = state.outcome.exception() if state.outcome is not None else None
            if isinstance(failure, _Failed) and failure.retry_after is not None:
                return min(failure.retry_after, self.max_backoff)
            return float(exponential(state))

        def before_sleep(state: RetryCallState) -> None:
            failure = state.outcome.exception() if state.outcome is not None else None
            log("notification retried", type=event.get("type"), receiver=target.where,
                attempt=state.attempt_number, error=target.scrub(str(failure)),
                wait_seconds=round(state.upcoming_sleep, 3))

        retrying = Retrying(stop=stop_after_attempt(self.max_attempts) | stop_when_event_set(self._abort),
                            wait=wait, retry=retry_if_exception(lambda e: isinstance(e, _Failed) and e.retryable),
                            sleep=self._pause, before_sleep=before_sleep, reraise=True)
        attempts = 0
        try:
            for attempt in retrying:
                with attempt:
                    attempts += 1
                    self._post(target, body)
        except _Failed as exc:
            if self._abort.is_set():
                return  # given up by `close`, which counted and reported it
            self._count(failed=1)
            warn("notification not delivered", type=event.get("type"), cluster=event.get("cluster"),
                 service=event.get("service"), instance=event.get("instance"), receiver=target.where,
                 attempts=attempts, error=target.scrub(exc.text))
            return
        self._count(delivered=1)
        log("notification sent", type=event.get("type"), cluster=event.get("cluster"),
            service=event.get("service"), instance=event.get("instance"), receiver=target.where,
            attempts=attempts)

    def _post(self, target: _Target, body: bytes) -> None:
        headers = {"Content-Type": "application/json"}
        if target.authorization is not None:
            headers["Authorization"] = target.authorization
        request = urllib.request.Request(target.url, data=body, method="POST", headers=headers)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                response.read(65536)
        except urllib.error.HTTPError as exc:
            retry_after = retry_after_seconds(exc.headers.get("Retry-After") if exc.headers is not None else None)
            exc.close()
            raise _Failed(f"HTTP {exc.code}", retryable=exc.code == 429 or exc.code >= 500,
                          retry_after=retry_after) from None
        except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, resets are OSErrors
            raise _Failed(_describe(exc), retryable=True) from None
