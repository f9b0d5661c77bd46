"""SimCluster: the embedded simulated cluster, a backend of the cluster protocol.

State lives in one SQLite file (see store.py) that a daemon and CLI processes may share. Objects
behave as on a real API server (uid, resourceVersion, generation, server-side apply with field
ownership, defaulting, validation); controllers (Deployment, ReplicaSet, StatefulSet, HPA,
disruption) are simulated lazily from stored timestamps and the clock (see engine.py).
"""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import contextmanager
from pathlib import Path
from collections.abc import Sequence
from typing import Iterator

from reconciler.cluster.errors import ClusterError, Conflict, Forbidden, Invalid, NotFound, Unavailable
from reconciler.cluster.protocol import FIELD_MANAGER, Obj, RequestCounters
from reconciler.cluster.selectors import parse_selector
from reconciler.cluster.sim import managed, ssa
from reconciler.cluster.sim.clock import Clock, SimClock, rfc3339
from reconciler.cluster.sim.engine import Engine
from reconciler.cluster.sim.faults import Faults
from reconciler.cluster.sim.merge import clone
from reconciler.cluster.sim.pods import Settings
from reconciler.cluster.sim.store import Row, Store, Txn
from reconciler.kinds import KINDS, WORKLOAD_KINDS, Kind

SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
PROPAGATION = ("Background", "Foreground", "Orphan")


def _qualified(kind: Kind) -> str:
    return kind.plural + (f".{kind.group}" if kind.group else "")


def _not_found(kind: Kind, name: str) -> NotFound:
    return NotFound(f'{_qualified(kind)} "{name}" not found', reason="NotFound")


class SimCluster:
    """A simulated Kubernetes cluster in one SQLite file (see the module docstring)."""

    def __init__(self, name: str, state_path: str | Path, pod_ready_seconds: float = 1.0,
                 clock: Clock | None = None, *, controller_delay: float = 0.1) -> None:
        """`pod_ready_seconds`: from a pod's creation to Ready. `controller_delay`: from a write to
        the controllers acting on it (0 for step-by-step tests with a ManualClock)."""
        self.name = name
        self.state_path = Path(state_path).expanduser()
        self.counters = RequestCounters()
        self.faults = Faults()
        self.clock: Clock = clock or SimClock()
        self.settings = Settings(pod_ready_seconds=pod_ready_seconds, controller_delay=controller_delay)
        try:
            self.store = Store(self.state_path)
            self.engine = Engine(self.settings)
            self._bootstrap()
        except (sqlite3.Error, OSError) as err:
            raise ClusterError(f"simulated cluster {name}: cannot use {self.state_path}: {err}") from err

    # --- plumbing ------------------------------------------------------------------------------
    def _request(self, what: str) -> None:
        self.counters.count(what)
        self.faults.before_request()

    @staticmethod
    def _kind(kind: str, api_version: str | None = None) -> Kind:
        info = KINDS.get(kind)
        if info is None or (api_version is not None and api_version != info.api_version):
            raise NotFound(f"the server could not find the requested resource ({api_version} {kind})",
                           reason="NotFound")
        return info

    @contextmanager
    def _session(self, write: bool, namespace: str | None) -> Iterator[tuple[Txn, float]]:
        """A transaction in which every due simulation (of `namespace`, or everywhere when None)
        has been advanced to now."""
        now = self.clock.now()
        try:
            if not write:
                with self.store.read() as txn:
                    due = txn.any_due(now, namespace)
                if not due:
                    with self.store.read() as txn:
                        yield txn, now
                    return
            with self.store.write() as txn:
                self.engine.advance(txn, now, namespace)
                yield txn, now
        except sqlite3.OperationalError as err:  # locked past the busy timeout, disk full, ...
            raise Unavailable(f"simulated cluster {self.name} ({self.state_path}): {err}") from err
        except sqlite3.Error as err:
            raise ClusterError(f"simulated cluster {self.name} ({self.state_path}): {err}") from err

    def _bootstrap(self) -> None:
        with self.store.write() as txn:
            if txn.conn.execute("SELECT value FROM settings WHERE key = 'bootstrapped'").fetchone():
                return
            now = self.clock.now()
            for name in SYSTEM_NAMESPACES:
                if txn.get("Namespace", None, name) is None:
                    label: Obj = {"f:metadata": {"f:labels": {".": {}, "f:kubernetes.io/metadata.name": {}}}}
                    txn.put(Row({"apiVersion": "v1", "kind": "Namespace", "metadata": {
                        "name": name, "uid": str(uuid.uuid4()), "creationTimestamp": rfc3339(now),
                        "labels": {"kubernetes.io/metadata.name": name},
                        "managedFields": [{"manager": "kube-apiserver", "operation": "Update", "apiVersion": "v1",
                                           "time": rfc3339(now), "fieldsType": "FieldsV1", "fieldsV1": label}]},
                        "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}))
            txn.conn.execute("INSERT INTO settings (key, value) VALUES ('bootstrapped', '1')")

    # --- the protocol --------------------------------------------------------------------------
    def list(self, kind: str, *, selector: str | None = None, namespace: str | None = None,
             metadata_only: bool = False) -> list[Obj]:
        """As the protocol says. The managedFields[].fieldsV1 trees of the items are shared between
        results (they are identical for similar objects): read them, do not change them in place."""
        self._request("reads")
        info = self._kind(kind)
        try:
            parse_selector(selector)
        except ValueError as err:
            raise Invalid(f"unable to parse requirement: {err}", status=400, reason="BadRequest") from None
        scope = namespace if info.namespaced else None
        with self._session(False, scope if info.namespaced else "") as (txn, _):
            return txn.select(kind, scope, selector, metadata_only)

    def get(self, kind: str, name: str, namespace: str | None = None) -> Obj:
        self._request("reads")
        info = self._kind(kind)
        scope = namespace if info.namespaced else None
        with self._session(False, scope if info.namespaced else "") as (txn, _):
            row = txn.get(kind, scope, name)
        if row is None:
            raise _not_found(info, name)
        return row.obj

    def apply(self, obj: Obj, *, field_manager: str = FIELD_MANAGER, force: bool = True,
              dry_run: bool = False) -> Obj:
        self._request("dry_runs" if dry_run else "writes")
        return self._write(obj, field_manager, force, dry_run)

    def _write(self, obj: Obj, field_manager: str, force: bool, dry_run: bool, *,
               create_only: bool = False) -> Obj:
        """Server-side apply in one transaction; `create_only` refuses an existing object (409)."""
        if not isinstance(obj, dict) or not obj.get("kind"):
            raise Invalid("Object 'Kind' is missing", status=400, reason="BadRequest")
        info = self._kind(str(obj["kind"]), obj.get("apiVersion"))
        meta = obj.get("metadata") or {}
        name = meta.get("name")
        namespace = meta.get("namespace") if info.namespaced else None
        where = f"{info.kind} {namespace}/{name}" if namespace else f"{info.kind} {name}"
        if not name:
            raise Invalid(f"{where}: metadata.name is required", status=400, reason="BadRequest")
        if info.namespaced and not namespace:
            raise Invalid(f"{where}: metadata.namespace is required for a {info.kind}", status=400,
                          reason="BadRequest")
        config = clone(obj)
        config.setdefault("apiVersion", info.api_version)
        if not info.namespaced:
            config["metadata"].pop("namespace", None)
        with self._session(not dry_run, namespace if namespace is not None else "") as (txn, now):
            live_row = txn.get(info.kind, namespace, name)
            if create_only and live_row is not None:
                raise Conflict(f'{_qualified(info)} "{name}" already exists', reason="AlreadyExists")
            if namespace is not None:
                ns = txn.get("Namespace", None, namespace)
                if ns is None:
                    raise NotFound(f'namespaces "{namespace}" not found', reason="NotFound")
                if ns.obj["metadata"].get("deletionTimestamp") and live_row is None:
                    raise Forbidden(f'{_qualified(info)} "{name}" is forbidden: unable to create new content in '
                                    f"namespace {namespace} because it is being terminated", reason="Forbidden")
            live = live_row.obj if live_row else None
            result = ssa.apply(live, config, field_manager, force, rfc3339(now))
            if not result.changed:
                return result.obj
            stored = result.obj
            if result.created:
                stored["metadata"]["uid"] = str(uuid.uuid4())
                stored["metadata"]["creationTimestamp"] = rfc3339(now)
                stored["metadata"] = self._ordered_meta(stored["metadata"])
            if dry_run:
                return stored
            row = Row(stored, live_row.sim if live_row else {"created": now},
                      live_row.next_event_at if live_row else None, live_row.root if live_row else None)
            react = now + self.settings.controller_delay
            if info.kind in WORKLOAD_KINDS or info.kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget"):
                row.next_event_at = react if row.next_event_at is None else min(row.next_event_at, react)
            txn.put(row)
            if info.kind in WORKLOAD_KINDS:
                self.engine.workload_changed(txn, row, react)
            stored_copy: Obj = clone(row.obj)
            return stored_copy

    def create(self, obj: Obj, *, field_manager: str = FIELD_MANAGER) -> Obj:
        self._request("writes")
        return self._write(obj, field_manager, False, False, create_only=True)

    @staticmethod
    def _ordered_meta(meta: Obj) -> Obj:
        order = ("name", "generateName", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                 "deletionTimestamp", "labels", "annotations", "ownerReferences", "finalizers", "managedFields")
        return {**{k: meta[k] for k in order if k in meta}, **{k: v for k, v in meta.items() if k not in order}}

    def set_managed_fields(self, kind: str, name: str, namespace: str | None, entries: Sequence[Obj], *,
                           resource_version: str, dry_run: bool = False) -> Obj:
        self._request("dry_runs" if dry_run else "writes")
        info = self._kind(kind)
        ns = namespace if info.namespaced else None
        with self._session(not dry_run, ns if ns is not None else "") as (txn, _):
            row = txn.get(kind, ns, name)
            if row is None:
                raise _not_found(info, name)
            if row.obj["metadata"].get("resourceVersion") != resource_version:
                raise Conflict(f'Operation cannot be fulfilled on {_qualified(info)} "{name}": the object has been '
                               "modified; please apply your changes to the latest version and try again",
                               reason="Conflict")
            stored: Obj = clone(row.obj)
            stored["metadata"]["managedFields"] = managed.encode(managed.parse({"managedFields": list(entries)}))
            if dry_run:
                return stored
            row.obj = stored
            txn.put(row)
            result: Obj = clone(stored)
            return result

    def delete(self, kind: str, name: str, namespace: str | None = None, *,
               propagation: str = "Background", uid: str | None = None, resource_version: str | None = None,
               dry_run: bool = False) -> None:
        self._request("dry_runs" if dry_run else "writes")
        info = self._kind(kind)
        if propagation not in PROPAGATION:
            raise Invalid(f'propagationPolicy: Unsupported value: "{propagation}": supported values: '
                          '"Foreground", "Background", "Orphan"', status=422, reason="Invalid")
        ns = namespace if info.namespaced else None
        with self._session(not dry_run, ns if ns is not None else "") as (txn, now):
            row = txn.get(kind, ns, name)
            if row is None:
                raise _not_found(info, name)
            if uid is not None and uid != row.uid:
                qualified = info.kind + (f".{info.group}" if info.group else "")
                raise Conflict(f'Operation cannot be fulfilled on {qualified} "{name}": the UID in the precondition '
                               f"({uid}) does not match the UID in record ({row.uid}). The object might have been "
                               "deleted and then recreated", reason="Conflict")
            live_version = row.obj["metadata"].get("resourceVersion")
            if resource_version is not None and resource_version != live_version:
                qualified = info.kind + (f".{info.group}" if info.group else "")
                raise Conflict(f'Operation cannot be fulfilled on {qualified} "{name}": the ResourceVersion in the '
                               f"precondition ({resource_version}) does not match the ResourceVersion in record "
                               f"({live_version}). The object might have been modified", reason="Conflict")
            if kind == "Namespace" and name in SYSTEM_NAMESPACES:
                raise Forbidden(f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                                reason="Forbidden")
            if dry_run:
                return
            if kind == "Namespace":
                self._delete_namespace(txn, row, now)
            else:
                self._delete(txn, row, propagation, now)

    def _delete(self, txn: Txn, row: Row, propagation: str, now: float) -> None:
        txn.delete(row.kind, row.namespace, row.name)
        now += self.settings.controller_delay  # when the controllers notice
        children = txn.children(row.uid)
        if row.kind in WORKLOAD_KINDS:
            for child in children:
                if propagation != "Orphan":
                    txn.delete(child.kind, child.namespace, child.name)
                    continue
                refs = child.obj["metadata"].get("ownerReferences") or []
                kept = [r for r in refs if r.get("uid") != row.uid]
                if kept != refs:
                    if kept:
                        child.obj["metadata"]["ownerReferences"] = kept
                    else:
                        child.obj["metadata"].pop("ownerReferences", None)
                    child.root = None
                    txn.put(child)
                else:
                    child.root = None
                    txn.put(child, bump=False)
            self.engine.workload_changed(txn, row, now)
            self.engine.pods_changed(txn, row.namespace, now)
        elif row.root is not None:
            if row.kind == "ReplicaSet" and propagation != "Orphan":
                for pod in txn.children(row.root, "Pod"):
                    if any(r.get("uid") == row.uid for r in pod.obj["metadata"].get("ownerReferences") or ()):
                        txn.delete("Pod", pod.namespace, pod.name)
            owner = next((r for kind in WORKLOAD_KINDS for r in txn.rows(kind, row.namespace) if r.uid == row.root),
                         None)
            if owner is not None:
                txn.schedule(owner.kind, owner.namespace, owner.name, now)
            self.engine.pods_changed(txn, row.namespace, now)

    def _delete_namespace(self, txn: Txn, row: Row, now: float) -> None:
        """Everything in it goes at once; the Namespace stays Terminating for a moment, as on a real
        server (new content is refused meanwhile), then disappears."""
        if row.obj["metadata"].get("deletionTimestamp"):
            return
        for kind, name in txn.namespace_keys(row.name):
            txn.delete(kind, row.name, name)
        meta = row.obj["metadata"]
        meta["deletionTimestamp"] = rfc3339(now)
        meta["deletionGracePeriodSeconds"] = 0
        row.obj["status"] = {"phase": "Terminating"}
        row.next_event_at = now + self.settings.pod_ready_seconds
        txn.put(row)

    def close(self) -> None:
        self.store.close()

    def __repr__(self) -> str:
        return f"SimCluster({self.name!r}, {str(self.state_path)!r})"

