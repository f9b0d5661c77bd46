"""`reconciler run`: the jobs of the daemon and how they share the latest rendering.

Jobs (APScheduler, each never overlapping itself):
- `poll` every `poll_interval`: read the sources; on new commits re-render only the changed
  services, then reconcile every cluster at once. A webhook runs it immediately.
- `reconcile:<cluster>` every `reconcile_interval`, one per cluster, in parallel and isolated:
  a failure of one never touches the others. Only the holder of the cluster's lease writes;
  the others plan read-only (their reports stay current).
- `resync` every `resync_interval`: the same cycle comparing every object field by field (drift).
- `generate` every `generate_interval` when `service_repos` is configured: deploy/control tags
  to deployments.json commits.
- `lease:<cluster>`: renews (or tries to take) the cluster's lease every `retry_period`.
- `promote` every `promotion.interval` with `promotion` on (and `lease:promotion`): moves each
  release through its deploy.yaml pipeline (see `promotion`).

Shutdown (SIGTERM/SIGINT): no new job starts, the cycle in flight stops between two objects
(never inside one), leases are released, the HTTP server closes.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from reconciler.cluster.errors import ClusterError
from reconciler.cluster.factory import connect
from reconciler.cluster.protocol import Cluster
from reconciler.config import Config
from reconciler.daemon.http import Api, ListenError, Server
from reconciler.daemon.leader import Elector, elector_for
from reconciler.daemon.logs import error, log, warn
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.notify import Notifier, Tracker, event
from reconciler.daemon.promotion import Promoter
from reconciler.daemon.state import DaemonState
from reconciler.engine.freeze import Freeze
from reconciler.reconcile.cycle import CycleResult, Mode, policy_for, reconcile
from reconciler.reconcile.freezes import active, read_freezes
from reconciler.reconcile.redact_key import installation_key
from reconciler.reconcile.revision import Revision
from reconciler.render.tree import TreeRender
from reconciler.report.document import versions_present
from reconciler.report.status import Row, counts, in_progress, instance_rows
from reconciler.soa.issues import Issue
from reconciler.sources.deployments_branch import DeploymentsBranch, Identity
from reconciler.sources.errors import SourceError
from reconciler.sources.generate import generate
from reconciler.sources.poll import PollResult, SourcePoller


@dataclass(frozen=True)
class Timing:
    """How often each job runs (seconds); `None` reconcile/resync intervals follow poll_interval."""

    reconcile_interval: float | None = None
    resync_interval: float = 300.0
    retry_period: float = 2.0
    lease_duration: float = 15.0
    renew_deadline: float = 10.0


class Daemon:
    """One reconciler process: sources, renders, cycles, HTTP, leases."""

    def __init__(self, config: Config, *, timing: Timing = Timing(), identity: str | None = None,
                 listen: str | None = None, workers: int = 1) -> None:
        if config.soa_configs is None:
            raise ValueError("the config has no soa_configs source: nothing to reconcile")
        self.config = config
        self.timing = timing
        self.identity = identity or f"{os.uname().nodename}-{os.getpid()}"
        self.workers = workers
        self.state = DaemonState(list(config.clusters))
        self.metrics = Metrics()
        self.revision = Revision(list(config.clusters), config.render_settings)
        self.transitions = Tracker()
        self.notifier = Notifier(config.notify_url_env)
        self.poller = SourcePoller(config.soa_configs, config.state_dir)
        self.poll_result: PollResult | None = None
        self.clusters: dict[str, Cluster] = {}
        self.electors: dict[str, Elector] = {}
        self.promoter: Promoter | None = None
        self._stopping = threading.Event()
        self._render_lock = threading.Lock()
        # one git user of the mirror's repository at a time: GitPython's object readers are not
        # thread-safe (a poll, a generator run and a webhook's generator run can overlap)
        self._git_lock = threading.RLock()
        self._fleet_wide: set[str] = set()  # clusters whose rendering settings changed
        self._reported_revision: str | None = None  # invalid files/instances logged for it
        self._reported: set[Issue] = set()
        self.redact_key: bytes | None = None  # read at start (state_dir exists then)
        self._force_poll = False  # a webhook asks for a poll now, backoff or not
        self._drifted: dict[str, dict[tuple[str, str], Row]] = {}  # per cluster, from the last resync
        self._holding: dict[str, set[str]] = {}  # per cluster: the freezes that held something last cycle
        self.scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1,
                                                                          "misfire_grace_time": None})
        secret_env = config.soa_configs.webhook_secret_env
        address = listen or config.listen
        if config.auth_token_env is None and not config.allow_unauthenticated and not _loopback(address):
            raise ListenError(f"refusing to listen on {address} without authentication: set auth: {{token_env: NAME}} "
                              "(or allow_unauthenticated: true), or listen on 127.0.0.1")
        token_env = config.auth_token_env
        self.api = Api(self.state, self.metrics, webhook_secret=lambda: _secret(secret_env),
                       on_push=self.on_push, on_refresh=self.refresh, versions=self.versions,
                       token=None if token_env is None else (lambda: _secret(token_env)),
                       max_body_bytes=config.max_body_bytes)
        self.server = Server(self.api, address, max_body_bytes=config.max_body_bytes,
                             client_timeout=config.client_timeout)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Read the sources once, start the HTTP server and the jobs."""
        os.makedirs(self.config.state_dir, exist_ok=True)
        self.redact_key = installation_key(self.config)
        for name, settings in self.config.clusters.items():
            self.electors[name] = elector_for(name, settings, self.config, self.identity, self.timing,
                                              self._cluster)
        self.server.start()  # /healthz answers during a long first clone; /readyz says why not yet
        self.poll(initial=True)
        poll_every = self.config.soa_configs.poll_interval if self.config.soa_configs else 15.0
        reconcile_every = self.timing.reconcile_interval or poll_every
        self.scheduler.add_job(self.poll, "interval", seconds=poll_every, id="poll")
        for name in self.config.clusters:
            self.scheduler.add_job(self.renew, "interval", seconds=self.timing.retry_period, args=[name],
                                   id=f"lease:{name}", next_run_time=datetime.now(timezone.utc))
            self.scheduler.add_job(self.reconcile, "interval", seconds=reconcile_every, args=[name],
                                   id=f"reconcile:{name}", next_run_time=datetime.now(timezone.utc))
            self.scheduler.add_job(self.reconcile, "interval", seconds=self.timing.resync_interval,
                                   args=[name], kwargs={"check_drift": True}, id=f"resync:{name}")
        repos = self.config.service_repos
        if repos is not None and self.poller.mirror is not None:
            self.scheduler.add_job(self.generate_deployments, "interval", seconds=repos.generate_interval,
                                   id="generate", next_run_time=datetime.now(timezone.utc))
            if self.config.promotion.enabled:
                self._start_promotion()
        elif self.config.promotion.enabled:
            warn("promotion is on but needs service_repos and a git soa_configs source: no release moves")
        self.scheduler.start()
        log("daemon started", listen=self.server.address, identity=self.identity,
            clusters=sorted(self.config.clusters))

    def _start_promotion(self) -> None:
        """The promoter's lease (on `promotion.lease_cluster`) and its job."""
        name = self.config.promotion_lease_cluster
        elector = elector_for(name, self.config.clusters[name], self.config, self.identity, self.timing,
                              self._cluster, lease="promotion")
        self.promoter = Promoter(self.config, self.state, self.metrics, self.notifier, self.revision, elector,
                                 git_lock=self._git_lock, generate=self._generate_soon, freezes=self.freezes_now)
        self.scheduler.add_job(self.renew_promotion, "interval", seconds=self.timing.retry_period,
                               id="lease:promotion", next_run_time=datetime.now(timezone.utc))
        self.scheduler.add_job(self.promote, "interval", seconds=self.config.promotion.interval, id="promote")

    def freezes_now(self, name: str) -> tuple[Freeze, ...]:
        """The freezes in force on cluster `name` now (one that cannot be read holds everything)."""
        policy = policy_for(self.config.clusters[name], self.config.label_domain, self.config.lease_namespace)
        try:
            stored = read_freezes(self._cluster(name), policy)
        except ClusterError as exc:
            stored = (Freeze("cluster-unreadable", None, reason=f"the freezes of {name} cannot be read: {exc}",
                             source="ad-hoc"),)
        return active(self.config.freezes, stored, name, datetime.now(timezone.utc), self.config.zone)

    def promote(self) -> None:
        if self.promoter is None or self._stopping.is_set() or self.poll_result is None:
            return
        try:
            self.promoter.run()
        except Exception as exc:  # noqa: BLE001 - a promotion bug must not stop the daemon
            error("promotion run crashed", error=f"{type(exc).__name__}: {exc}")

    def _generate_soon(self, service: str) -> None:
        if self.promoter is not None:
            self.promoter.forget(service)  # its tags moved (a push, a webhook)
        self.scheduler.add_job(self.generate_deployments, kwargs={"services": [service]},
                               id=f"generate:{service}", replace_existing=True)

    def stop(self) -> None:
        """Graceful: no new job, the cycle in flight stops between objects, leases released."""
        self._stopping.set()
        self.scheduler.shutdown(wait=True)
        for elector in self.electors.values():
            elector.release()
        if self.promoter is not None:
            self.promoter.elector.release()
        self.notifier.close(timeout=5.0)
        self.server.stop()
        for cluster in self.clusters.values():
            cluster.close()
        log("daemon stopped")

    def reload(self, path: str) -> bool:
        """SIGHUP: read `path` again. An invalid file, or one that adds or removes clusters or
        changes the source, is refused and the old configuration stays in force. Otherwise the new
        cluster settings apply from the next cycle and everything is rendered again; when the
        rendering settings changed, the resulting bounces count as fleet-wide (they go last)."""
        from reconciler.config import ConfigError, load_config

        try:
            new = load_config(path)
        except ConfigError as exc:
            error("configuration refused; the old one stays in force", path=path, error=str(exc))
            return False
        if set(new.clusters) != set(self.config.clusters) or new.soa_configs != self.config.soa_configs \
                or new.label_domain != self.config.label_domain or new.state_dir != self.config.state_dir:
            error("configuration refused: clusters, sources, label_domain and state_dir change only with a "
                  "restart; the old one stays in force", path=path)
            return False
        settings_changed = {name for name in new.clusters
                            if new.render_settings(name) != self.config.render_settings(name)}
        self.config = new
        self.notifier.url_env = new.notify_url_env
        self._fleet_wide |= settings_changed
        self.revision.settings_for = new.render_settings
        snapshot = self.poll_result.snapshot if self.poll_result else None
        if snapshot is not None:
            with self._git_lock, self._render_lock:
                self.revision.update(snapshot.tree, None)
        log("configuration reloaded", path=path, rendering_changed=sorted(settings_changed))
        self.trigger("reconcile")
        return True

    def trigger(self, job: str) -> None:
        """Run `job` (or every `reconcile:*` job for "reconcile") now."""
        now = datetime.now(timezone.utc)
        for candidate in self.scheduler.get_jobs():
            if candidate.id == job or (job == "reconcile" and candidate.id.startswith("reconcile:")):
                candidate.modify(next_run_time=now)

    # ------------------------------------------------------------------ jobs
    def poll(self, initial: bool = False) -> None:
        with self._git_lock:
            self._poll(initial)

    def _poll(self, initial: bool) -> None:
        started = time.monotonic()
        force, self._force_poll = self._force_poll, False
        failures = self.poller.failures
        result = self.poller.poll(force=force)
        self.metrics.git_poll_duration.observe(time.monotonic() - started)
        self.poll_result = result
        snapshot = result.snapshot
        if result.error and self.poller.failures > failures:  # not the polls skipped while backing off
            self.metrics.source_errors.labels(source="soa_configs", kind="poll").inc()
            warn("source poll failed", error=result.error, in_force=snapshot.soa_commit if snapshot else None)
        self.state.set_source(soa_commit=snapshot.soa_commit if snapshot else None,
                              deployments_commit=snapshot.deployments_commit if snapshot else None,
                              error=result.error)
        if snapshot is not None:
            self.metrics.set_commits({"soa_configs": snapshot.soa_commit,
                                      "deployments": snapshot.deployments_commit})
        if not result.fresh or snapshot is None:
            return
        changed = None if result.changed is None else frozenset(result.changed)
        if changed is not None and not changed and not initial:
            return
        with self._render_lock:  # services gone from git go from the revision
            rendered = self.revision.update(snapshot.tree, changed, workers=self.workers if initial else 1)
        log("rendered", soa_commit=snapshot.soa_commit, deployments_commit=snapshot.deployments_commit,
            services="all" if changed is None else sorted(changed), instances=len(rendered.results))
        self._report_invalid(rendered, f"{snapshot.soa_commit}/{snapshot.deployments_commit}")
        if not initial:
            self.trigger("reconcile")

    def _report_invalid(self, rendered: TreeRender, revision: str) -> None:
        """One log line and one count per invalid file or instance and revision (a poll that
        renders the same revision again says nothing new)."""
        if revision != self._reported_revision:
            self._reported_revision, self._reported = revision, set()
        for issue in rendered.issues + [i for r in rendered.results for i in r.errors]:
            if not issue.is_error or issue in self._reported:
                continue
            self._reported.add(issue)
            if issue.instance and any(i.file == issue.file and not i.instance for i in self._reported):
                continue  # the file itself was reported: its instances say the same
            kind = "invalid_instance" if issue.instance else "invalid_file"
            self.metrics.source_errors.labels(source="soa_configs", kind=kind).inc()
            warn("invalid soa-configs", kind=kind, file=issue.file, service=issue.service,
                 instance=issue.instance, cluster=issue.cluster, key=issue.key, error=issue.message,
                 revision=revision)

    def on_push(self, payload: dict[str, Any]) -> None:
        """A signed webhook: a push to a service repository regenerates that service's
        deployments.json at once; any other push polls the sources at once."""
        repository = payload.get("repository")
        name = repository.get("name") if isinstance(repository, dict) else None
        snapshot = self.poll_result.snapshot if self.poll_result else None
        if (self.config.service_repos is not None and isinstance(name, str) and snapshot is not None
                and name in snapshot.tree.services()[0]):
            self._generate_soon(name)
            return
        self._force_poll = True
        self.trigger("poll")

    def refresh(self, clusters: list[str]) -> None:
        """`POST /api/v1/refresh`: poll the sources now (no back-off), then compare every field
        of `clusters` (their resync job, run at once)."""
        self.scheduler.add_job(self._refresh, args=[list(clusters)], id="refresh", replace_existing=True)

    def _refresh(self, clusters: list[str]) -> None:
        self._force_poll = True
        self.poll()
        now = datetime.now(timezone.utc)
        for job in self.scheduler.get_jobs():
            if job.id in {f"resync:{name}" for name in clusters}:
                job.modify(next_run_time=now)

    def generate_deployments(self, services: list[str] | None = None) -> None:
        """Deploy and control tags of the service repositories -> one deployments branch commit."""
        repos, source = self.config.service_repos, self.config.soa_configs
        snapshot = self.poll_result.snapshot if self.poll_result else None
        if repos is None or source is None or self.poller.mirror is None or snapshot is None:
            return
        try:
            with self._git_lock:
                result = generate(snapshot.tree, DeploymentsBranch(self.poller.mirror, source.deployments_branch,
                                                                   identity=Identity.from_env()),
                                  repos.url_template, services=services, parallelism=repos.parallelism)
        except SourceError as exc:
            self.metrics.source_errors.labels(source="deployments", kind="generate").inc()
            warn("deployments generation failed", error=str(exc))
            return
        for service, problem in sorted(result.errors.items()):
            self.metrics.source_errors.labels(source="service_repos", kind="service_repo").inc()
            warn("service repository unreadable; its deployments.json is kept", service=service, error=problem)
        if result.commit:
            log("deployments committed", commit=result.commit,
                services=[c.service for c in result.changed])
            self.trigger("poll")
        if self.promoter is not None:
            for change in result.changed:  # their tags moved: the promoter reads them again
                self.promoter.forget(change.service)
            self.trigger("promote")

    def versions(self, service: str) -> dict[str, Any]:
        """The running pods of `service` by git sha on each reachable cluster (read now)."""
        out: dict[str, Any] = {}
        for name in self.config.clusters:
            try:
                pods = self._cluster(name).list("Pod", selector=f"{self.config.label_domain}/service={service}")
            except ClusterError:
                continue
            out[name] = versions_present(pods, self.config.label_domain)
        return out

    def renew(self, name: str) -> None:
        elector = self.electors[name]
        was = elector.is_leader()
        try:
            elector.renew()
        except ClusterError as exc:
            warn("lease renewal failed", cluster=name, error=str(exc))
        now = elector.is_leader()
        self.metrics.leader.labels(cluster=name).set(1 if now else 0)
        self.state.set_cluster(name, leader=now)
        if now != was:
            log("lease acquired" if now else "lease lost", cluster=name, identity=self.identity)
            if now:
                self.trigger(f"reconcile:{name}")

    def renew_promotion(self) -> None:
        assert self.promoter is not None
        elector = self.promoter.elector
        was = elector.is_leader()
        try:
            elector.renew()
        except ClusterError as exc:
            warn("promotion lease renewal failed", cluster=self.config.promotion_lease_cluster, error=str(exc))
        if elector.is_leader() != was:
            log("promotion lease acquired" if not was else "promotion lease lost", identity=self.identity)
            if not was:
                self.trigger("promote")

    def reconcile(self, name: str, check_drift: bool = False) -> CycleResult | None:
        if self._stopping.is_set() or self.poll_result is None or self.poll_result.snapshot is None:
            return None
        settings = self.config.clusters[name]
        elector = self.electors[name]
        started = time.monotonic()
        try:
            cluster = self._cluster(name)
            leader = elector.is_leader()
            mode = Mode(apply=leader, check_drift=check_drift, sources_ok=self.poll_result.error is None,
                        fleet_wide=name in self._fleet_wide,
                        may_write=lambda: elector.is_leader() and not self._stopping.is_set(),
                        freeze_windows=self.config.freezes, time_zone=self.config.time_zone)
            policy = policy_for(settings, self.config.label_domain, self.config.lease_namespace,
                                redact_key=self.redact_key, edit_managers=self.config.edit_managers)
            result = reconcile(cluster, policy, self.revision, mode)
        except ClusterError as exc:
            self.state.set_cluster(name, reachable=False, error=str(exc))
            error("cycle failed", cluster=name, error=str(exc))
            return None
        except Exception as exc:  # noqa: BLE001 - one cluster's bug must not stop the others
            self.state.set_cluster(name, reachable=False, error=f"{type(exc).__name__}: {exc}")
            error("cycle crashed", cluster=name, error=f"{type(exc).__name__}: {exc}")
            return None
        self.metrics.reconcile_duration.labels(cluster=name).observe(time.monotonic() - started)
        if not any(a.action in ("update", "wait") for a in result.plan.actions):
            self._fleet_wide.discard(name)  # the fleet-wide change has rolled out
        self._record(name, result, leader, check_drift)
        return result

    # ------------------------------------------------------------------ helpers
    def _cluster(self, name: str) -> Cluster:
        if name not in self.clusters:
            self.clusters[name] = connect(self.config.clusters[name])
        return self.clusters[name]

    def _record(self, name: str, result: CycleResult, leader: bool, check_drift: bool = False) -> None:
        snapshot = self.poll_result.snapshot if self.poll_result else None
        rows = instance_rows(name, self.revision.view().results, result.plan, result.health,
                             label_domain=self.config.label_domain,
                             changed_at=snapshot.committed_at if snapshot else None)
        rows = self._keep_drift(name, rows, check_drift)
        # transitions are tracked on every replica; only the lease holder tells the outside world
        events = [e for e in self.transitions.observe(name, rows, result.plan.halts, result.plan.prune)
                  if not (e["type"] == "prune_refused" and e.get("reason") == "prune is off")]
        for found in events:  # one log line per transition, on every replica; only the leader notifies
            warn(found["type"], cluster=name, service=found.get("service"), instance=found.get("instance"),
                 message=found["message"], leader=leader)
        events += self._freeze_events(name, result, leader)
        if leader and events:
            self.notifier.send(events)
        now = datetime.now(timezone.utc)
        self._observe_lead_times(name, rows, snapshot.committed_at if snapshot else None, now)
        self.state.set_cluster(name, reachable=True, error=None, rows=rows, last_cycle=result.as_dict(),
                               last_success=now, leader=leader, freezes=result.freezes)
        self.metrics.set_instances(name, counts(rows))
        self.metrics.rollouts_in_progress.labels(cluster=name).set(in_progress(result.health))
        self.metrics.last_success.labels(cluster=name).set(now.timestamp())
        for outcome in result.outcomes:
            a = outcome.action
            self.metrics.apply_total.labels(cluster=name, kind=a.kind, action=a.action,
                                            result="ok" if outcome.ok else "failed").inc()
        for outcome in result.outcomes:
            a = outcome.action
            log("applied" if outcome.ok else "apply failed", cluster=name, action=a.action, kind=a.kind,
                namespace=a.namespace, name=a.name, reason=a.reason, error=outcome.error)
        for action in result.plan.actions:
            if action.action == "wait":
                log("waiting", cluster=name, kind=action.kind, name=action.name, reason=action.reason)


    def _freeze_events(self, name: str, result: CycleResult, leader: bool) -> list[dict[str, Any]]:
        """A log line (and, on the lease holder, an event) when a freeze starts or stops holding
        changes on a cluster; the held rows count as reconciler_instances{status="Frozen"}."""
        held: dict[str, int] = {}
        for freeze in result.freezes:
            count = sum(1 for a in result.plan.actions if a.action == "wait" and a.reason.startswith(freeze.label))
            if count:
                held[freeze.name] = count
        before = self._holding.get(name, set())
        self._holding[name] = set(held)
        events = []
        for freeze in result.freezes:
            if freeze.name in held and freeze.name not in before:
                message = f"{freeze.label} holds {held[freeze.name]} changes"
                warn("freeze holding changes", cluster=name, freeze=freeze.name, held=held[freeze.name],
                     until=freeze.as_dict()["until"], leader=leader)
                events.append(event("freeze_holding", name, None, None, None, message, freeze=freeze.as_dict()))
        for gone in sorted(before - set(held)):
            log("freeze no longer holding changes", cluster=name, freeze=gone, leader=leader)
        return events

    def _keep_drift(self, name: str, rows: list[Row], check_drift: bool) -> list[Row]:
        """Fields are compared only by the resync job; with heal_drift off (detect-only), the
        Drifted rows it found stay Drifted in the cycles between (while the object is the one
        the resync saw), instead of turning Synced until the next resync."""
        if check_drift:
            self._drifted[name] = {(r.service, r.instance): r for r in rows if r.status == "Drifted"}
            return rows
        seen = self._drifted.get(name)
        if not seen or self.config.clusters[name].heal_drift:
            return rows
        out = []
        for row in rows:
            drifted = seen.get((row.service, row.instance))
            same = drifted is not None and (drifted.live or {}).get("config_sha") == (row.live or {}).get("config_sha")
            if row.status == "Synced" and drifted is not None and same:
                row = dataclasses.replace(drifted, message=drifted.message + " (as of the last full comparison)")
            out.append(row)
        return out

    def _observe_lead_times(self, name: str, rows: list[Row], committed_at: str | None, now: datetime) -> None:
        """reconciler_deploy_lead_time_seconds: from the commit that asked for a change (the
        deployments or soa-configs commit in force) to the instance Synced on it."""
        before = {(r.service, r.instance): r.status for r in self.state.rows(name)}
        when = _parse_time(committed_at)
        if when is None or not before:
            return
        for row in rows:
            was = before.get((row.service, row.instance))
            if row.status == "Synced" and was is not None and was != "Synced":
                self.metrics.deploy_lead_time.labels(cluster=name).observe(max(0.0, (now - when).total_seconds()))


def _parse_time(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def _loopback(address: str) -> bool:
    """`host:port` names a loopback address (127.0.0.0/8, ::1, localhost)."""
    host = address.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # "" and 0.0.0.0 are every address; other hostnames are not assumed local


def _secret(env: str | None) -> bytes | None:
    """The webhook secret, read from the environment at each request (rotations need no restart)."""
    value = os.environ.get(env) if env else None
    return value.encode() if value else None


def serve(daemon: Daemon, *, on_start: Callable[[], None] | None = None, config_path: str | None = None) -> None:
    """Start `daemon` and block until SIGTERM/SIGINT, then stop it gracefully; SIGHUP reloads
    `config_path`."""
    import signal

    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        log("signal received", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    reload = threading.Event()
    signal.signal(signal.SIGHUP, lambda signum, frame: reload.set())
    daemon.start()
    if on_start is not None:
        on_start()
    try:
        while not stop.wait(0.5):
            if reload.is_set():
                reload.clear()
                if config_path is None:
                    log("SIGHUP: nothing to reload (the embedded default has no config file)")
                else:
                    daemon.reload(config_path)
    finally:
        daemon.stop()
