"""Leader election: one writer per managed cluster.

Real clusters: a coordination.k8s.io/v1 Lease `reconciler-<cluster>` in `lease_namespace` of that
cluster, taken and renewed with optimistic concurrency (create, or server-side apply with the
resourceVersion read as a precondition: a concurrent writer gets a 409 and loses). As in
client-go, another holder's lease counts as expired when its record has not changed for
`lease_duration` on *our* clock (no trust in clock agreement between machines).

Simulated clusters: an exclusive `fcntl` lock on `<state_dir>/locks/<cluster>.lock`, held for as
long as the process lives (the kernel releases it when the process dies, even by SIGKILL).

`is_leader()` is what every write asks first: it turns false `renew_deadline` after the last
successful renewal began, which is less than `lease_duration` minus the request timeout, so a
replica that cannot renew stops writing before anyone else may take over.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from reconciler.cluster.errors import Conflict, NotFound
from reconciler.cluster.protocol import Cluster
from reconciler.config import ClusterConfig, Config

LEASE_MANAGER = "reconciler-leader"


class Elector(Protocol):
    def renew(self) -> None:
        """Take the lead if free, keep it if held; never raises for a lost race."""
        ...

    def is_leader(self) -> bool: ...

    def release(self) -> None: ...


def _micro(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaseElector:
    """Leader of one cluster through a Lease on that cluster."""

    def __init__(self, cluster: Callable[[], Cluster], name: str, namespace: str, identity: str, *,
                 lease_duration: float = 15.0, renew_deadline: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if renew_deadline >= lease_duration:
            raise ValueError("renew_deadline must be shorter than lease_duration")
        self._cluster = cluster
        self.name, self.namespace, self.identity = name, namespace, identity
        self.lease_duration, self.renew_deadline = lease_duration, renew_deadline
        self._clock = clock
        self._valid_until = 0.0
        self._observed: tuple[Any, ...] | None = None  # another holder's record, as last seen
        self._observed_at = 0.0

    def is_leader(self) -> bool:
        return self._clock() < self._valid_until

    def _body(self, spec: dict[str, Any], resource_version: str | None = None) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if resource_version:
            meta["resourceVersion"] = resource_version
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta, "spec": spec}

    def renew(self) -> None:
        started = self._clock()
        cluster = self._cluster()
        now = datetime.now(timezone.utc)
        try:
            lease = cluster.get("Lease", self.name, self.namespace)
        except NotFound:
            self._ensure_namespace(cluster)
            first = {"holderIdentity": self.identity, "leaseDurationSeconds": int(self.lease_duration),
                     "acquireTime": _micro(now), "renewTime": _micro(now), "leaseTransitions": 0}
            try:
                cluster.create(self._body(first), field_manager=LEASE_MANAGER)
            except Conflict:
                self._valid_until = 0.0
                return
            self._valid_until = started + self.renew_deadline
            return
        spec: dict[str, Any] = dict(lease.get("spec") or {})
        holder = spec.get("holderIdentity")
        version = (lease.get("metadata") or {}).get("resourceVersion")
        if holder and holder != self.identity and not self._expired(spec, started):
            self._valid_until = 0.0
            return
        new: dict[str, Any] = {"holderIdentity": self.identity, "leaseDurationSeconds": int(self.lease_duration),
                               "renewTime": _micro(now), "acquireTime": spec.get("acquireTime") or _micro(now),
                               "leaseTransitions": int(spec.get("leaseTransitions") or 0)}
        if holder != self.identity:
            new["acquireTime"] = _micro(now)
            new["leaseTransitions"] += 1
        try:
            cluster.apply(self._body(new, version), field_manager=LEASE_MANAGER)
        except Conflict:  # someone else wrote it first
            self._valid_until = 0.0
            return
        self._valid_until = started + self.renew_deadline

    def _expired(self, spec: dict[str, Any], now: float) -> bool:
        record = (spec.get("holderIdentity"), spec.get("renewTime"), spec.get("leaseTransitions"))
        if record != self._observed:
            self._observed, self._observed_at = record, now
            return False
        duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
        return now - self._observed_at > duration

    def _ensure_namespace(self, cluster: Cluster) -> None:
        try:
            cluster.get("Namespace", self.namespace)
        except NotFound:
            cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}},
                          field_manager=LEASE_MANAGER)

    def release(self) -> None:
        """Give the lease up (holder cleared) so another replica need not wait for it to expire."""
        if not self.is_leader():
            return
        self._valid_until = 0.0
        try:
            cluster = self._cluster()
            lease = cluster.get("Lease", self.name, self.namespace)
            spec = dict(lease.get("spec") or {})
            if spec.get("holderIdentity") == self.identity:
                spec.update(holderIdentity="", leaseDurationSeconds=1)
                cluster.apply(self._body(spec, (lease.get("metadata") or {}).get("resourceVersion")),
                              field_manager=LEASE_MANAGER)
        except Exception:  # noqa: BLE001 - best effort: the lease expires anyway
            pass


class FileLockElector:
    """Leader of a simulated cluster: an exclusive lock on a file under state_dir."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def is_leader(self) -> bool:
        return self._fd is not None

    def renew(self) -> None:
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def lease_request_timeout(lease_duration: float, renew_deadline: float) -> float:
    """The timeout of one lease request: what the spec's rule leaves, renew_deadline <
    lease_duration - request timeout (with one request per renewal: no retries)."""
    return max(0.5, (lease_duration - renew_deadline) * 0.8)


def elector_for(name: str, settings: ClusterConfig, config: Config, identity: str, timing: Any,
                cluster: Callable[[str], Cluster], *, lease: str | None = None) -> Elector:
    """The elector of cluster `name` (or, with `lease`, of that role, held on cluster `name`: the
    promoter's): a file lock for simulated clusters, a Lease otherwise, renewed through a
    connection of its own whose requests cannot outlast the lease."""
    if settings.sim_state:
        return FileLockElector(Path(config.state_dir) / "locks" / (f"{lease}.role.lock" if lease else f"{name}.lock"))
    from reconciler.cluster.factory import connect

    timeout = lease_request_timeout(timing.lease_duration, timing.renew_deadline)
    own: list[Cluster] = []

    def lease_cluster() -> Cluster:
        if not own:
            own.append(connect(settings, timeout=timeout, attempts=1))
        return own[0]

    return LeaseElector(lease_cluster, f"reconciler-{lease or name}", config.lease_namespace, identity,
                        lease_duration=timing.lease_duration, renew_deadline=timing.renew_deadline)


def other_holder(name: str, settings: ClusterConfig, config: Config, cluster: Cluster | None) -> str | None:
    """Who else holds cluster `name`'s lease right now (a running daemon), None when nobody does.

    For a CLI write: on a real cluster, a Lease whose holder renewed it within its duration (by
    the lease's own times); on a simulated cluster, the state_dir lock held by another process."""
    if settings.sim_state:
        probe = FileLockElector(Path(config.state_dir) / "locks" / f"{name}.lock")
        probe.renew()
        if probe.is_leader():
            probe.release()
            return None
        try:
            pid = probe.path.read_text().strip()
        except OSError:
            pid = "?"
        return f"process {pid} (lock {probe.path})"
    assert cluster is not None
    try:
        lease = cluster.get("Lease", f"reconciler-{name}", config.lease_namespace)
    except NotFound:
        return None
    spec = lease.get("spec") or {}
    holder = spec.get("holderIdentity")
    renewed = spec.get("renewTime")
    if not holder or not isinstance(renewed, str):
        return None
    try:
        when = datetime.fromisoformat(renewed.replace("Z", "+00:00"))
    except ValueError:
        return None
    age = (datetime.now(timezone.utc) - when).total_seconds()
    duration = float(spec.get("leaseDurationSeconds") or 15)
    return f"{holder} (lease {config.lease_namespace}/reconciler-{name}, renewed {age:.0f} s ago)" \
        if age < duration else None
