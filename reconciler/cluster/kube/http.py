"""HTTP to the API server: rate limit, timeout, retries with backoff, counting, error mapping.

Every attempt is one HTTP request, counted once (as a read, a write or a dry run) before it is
sent, retries included. Bodies are read as bytes and parsed with `json.loads`; the official
client's model classes never see them. Only `reconciler.cluster.errors` exceptions leave here.
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from dataclasses import dataclass, field
from gzip import decompress as gunzip
from typing import Any, Callable, Sequence
from urllib.parse import urlencode

import urllib3
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_base, wait_exponential, wait_random

from reconciler.cluster.errors import ClusterError, Timeout, Unavailable, from_status
from reconciler.cluster.kube.config import Connection
from reconciler.cluster.protocol import RequestCounters
from reconciler.retry_after import retry_after_seconds

#: Responses that mean "not now": the server did not (429) or may not (5xx) have acted.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class TokenBucket:
    """Client-side rate limit: `qps` tokens a second, up to `burst` saved; thread-safe.

    A caller reserves a token under the lock (the balance may go negative: callers queue up in
    arrival order) and sleeps off its debt outside it. `qps <= 0` disables the limit."""

    def __init__(self, qps: float, burst: int, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.qps = qps
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take a token; returns how long the caller must wait before using it."""
        if self.qps <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
            self._last = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def acquire(self) -> float:
        delay = self.reserve()
        if delay > 0:
            self._sleep(delay)
        return delay


@dataclass
class TransferStats:
    """What the transport did: attempts, retries, bytes (on the wire and decoded), seconds."""

    requests: int = 0
    retries: int = 0
    bytes_received: int = 0  # response bodies as received (compressed when gzip was used)
    bytes_decoded: int = 0  # response bodies after decompression (what json.loads read)
    seconds: float = 0.0  # time inside HTTP requests (rate-limit and backoff waits excluded)
    throttled_seconds: float = 0.0  # time spent waiting for the client-side rate limit
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **amounts: float) -> None:
        with self._lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return {"requests": self.requests, "retries": self.retries,
                    "bytes_received": self.bytes_received, "bytes_decoded": self.bytes_decoded,
                    "seconds": round(self.seconds, 4), "throttled_seconds": round(self.throttled_seconds, 4)}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    describe: str  # "Deployment ns/name", used in error messages
    counter: str  # "reads", "writes" or "dry_runs"
    params: Sequence[tuple[str, str]] = ()
    body: bytes | None = None
    content_type: str | None = None
    accept: str = "application/json"
    #: Safe to send again after an ambiguous failure (the server may have acted on it).
    idempotent: bool = True
    #: A 404 after a retry means the first attempt already did the job (deletes).
    gone_ok_after_retry: bool = False


class _Retry(Exception):
    """One attempt failed in a way worth another; carries the error to raise if none is left."""

    def __init__(self, error: ClusterError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


class _WaitRetryAfter(wait_base):
    """Exponential backoff with jitter, but never shorter than the server's Retry-After."""

    def __init__(self, backoff: wait_base, cap: float) -> None:
        self.backoff = backoff
        self.cap = cap

    def __call__(self, retry_state: RetryCallState) -> float:
        delay = float(self.backoff(retry_state))
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, _Retry) and exc.retry_after is not None:
            delay = max(delay, min(exc.retry_after, self.cap))
        return delay


def _status_message(body: bytes) -> tuple[str, str | None]:
    """The message and reason of a metav1.Status body (or the raw text when it is not one)."""
    try:
        status = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip()[:500], None
    if not isinstance(status, dict):
        return str(status)[:500], None
    return str(status.get("message") or ""), status.get("reason")


class Transport:
    """Sends requests for one KubeCluster; safe to share between threads."""

    def __init__(self, connection: Connection, counters: RequestCounters, *, qps: float = 50.0,
                 burst: int = 100, timeout: float = 30.0, attempts: int = 5,
                 backoff_initial: float = 0.25, backoff_max: float = 8.0,
                 retry_after_max: float = 30.0, gzip: bool = True,
                 user_agent: str = "reconciler/0.1 (kube backend)",
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.connection = connection
        self.counters = counters
        self.stats = TransferStats()
        self.limiter = TokenBucket(qps, burst, sleep=sleep)
        self.timeout = urllib3.Timeout(connect=timeout, read=timeout)
        self.attempts = max(1, attempts)
        self.gzip = gzip
        self.user_agent = user_agent
        self._sleep = sleep
        self._wait = _WaitRetryAfter(
            wait_exponential(multiplier=backoff_initial, max=backoff_max) + wait_random(0, backoff_initial),
            retry_after_max)

    # ------------------------------------------------------------------ public
    def request(self, req: Request) -> Any:
        """The parsed JSON body of a successful response (None when empty)."""
        attempt = 0

        def once() -> Any:
            nonlocal attempt
            attempt += 1
            if attempt > 1:
                self.stats.add(retries=1)
            return self._attempt(req, retried=attempt > 1)

        retrying = Retrying(stop=stop_after_attempt(self.attempts), wait=self._wait,
                            retry=retry_if_exception_type(_Retry), sleep=self._sleep, reraise=True)
        try:
            return retrying(once)
        except _Retry as exc:
            if attempt > 1:
                raise type(exc.error)(f"{exc.error} (gave up after {attempt} attempts)",
                                      status=exc.error.status, reason=exc.error.reason) from None
            raise exc.error from None

    # ------------------------------------------------------------------ one attempt
    def _headers(self, req: Request) -> dict[str, str]:
        headers = {"Accept": req.accept, "User-Agent": self.user_agent,
                   "Accept-Encoding": "gzip" if self.gzip else "identity"}
        if req.content_type:
            headers["Content-Type"] = req.content_type
        headers.update(self.connection.auth_headers())
        return headers

    def _attempt(self, req: Request, *, retried: bool) -> Any:
        url = self.connection.host + req.path
        if req.params:
            url += "?" + urlencode(list(req.params))
        headers = self._headers(req)
        waited = self.limiter.acquire()
        self.counters.count(req.counter)
        self.stats.add(requests=1, throttled_seconds=waited)
        started = time.monotonic()
        try:
            response = self.connection.pool.request(
                req.method, url, body=req.body, headers=headers, timeout=self.timeout,
                retries=False, redirect=False, preload_content=False, decode_content=False)
            try:
                raw = response.read(decode_content=False)
            finally:
                response.release_conn()
        except urllib3.exceptions.HTTPError as exc:
            raise self._transport_error(req, exc) from None
        except OSError as exc:  # socket-level failures urllib3 did not wrap
            failure = Unavailable(f"{req.describe}: {req.method} {req.path}: {exc}")
            raise (_Retry(failure) if req.idempotent else failure) from None
        finally:
            self.stats.add(seconds=time.monotonic() - started)
        body = self._decode(req, raw, response.headers.get("Content-Encoding"))
        self.stats.add(bytes_received=len(raw), bytes_decoded=len(body))
        status = response.status
        if 200 <= status < 300:
            if not body:
                return None
            try:
                return json.loads(body)
            except ValueError as exc:
                raise ClusterError(f"{req.describe}: the server sent no JSON ({exc})",
                                   status=status) from None
        if status == 404 and retried and req.gone_ok_after_retry:
            return None
        message, reason = _status_message(body)
        error = from_status(status, f"{req.describe}: {message or response.reason} "
                                    f"({status} {reason or response.reason})", reason)
        if status in RETRY_STATUSES:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            # 429: the server did not act. A 5xx may come after it did: only idempotent requests
            # go again, unless the server itself asks for a retry (client-go's rule).
            if status == 429 or req.idempotent or retry_after is not None:
                raise _Retry(error, retry_after)
        raise error

    def _decode(self, req: Request, raw: bytes, encoding: str | None) -> bytes:
        if not encoding or encoding == "identity":
            return raw
        try:
            if encoding == "gzip":
                return gunzip(raw)
            if encoding == "deflate":
                return zlib.decompress(raw)
        except (OSError, zlib.error, EOFError) as exc:
            raise _Retry(Unavailable(f"{req.describe}: corrupt {encoding} response: {exc}")) from None
        raise ClusterError(f"{req.describe}: unsupported Content-Encoding {encoding!r}")

    @staticmethod
    def _transport_error(req: Request, exc: urllib3.exceptions.HTTPError) -> Exception:
        """A urllib3 failure as a ClusterError; wrapped in _Retry when another attempt may help."""
        what = f"{req.describe}: {req.method} {req.path}"
        if isinstance(exc, urllib3.exceptions.NewConnectionError):
            # nothing was sent (refused, unreachable, name not resolved): safe for every request
            return _Retry(Unavailable(f"{what}: cannot connect: {exc}"))
        if isinstance(exc, urllib3.exceptions.ConnectTimeoutError):
            return _Retry(Timeout(f"{what}: timed out connecting: {exc}"))
        if isinstance(exc, urllib3.exceptions.SSLError):
            text = str(exc)
            error = Unavailable(f"{what}: TLS failure: {text}")
            # a certificate the client rejects stays rejected; a torn handshake may not
            return error if "CERTIFICATE_VERIFY_FAILED" in text or "certificate" in text else _Retry(error)
        if isinstance(exc, urllib3.exceptions.TimeoutError):
            error = Timeout(f"{what}: no response in time: {exc}")
            return _Retry(error) if req.idempotent else error
        error = Unavailable(f"{what}: connection failed: {type(exc).__name__}: {exc}")
        return _Retry(error) if req.idempotent else error
