"""SQLite persistence of the simulated cluster: one file, WAL mode, shared safely by processes.

One row per object, indexed by (kind, namespace, name); metadata and the rest of the object are
separate JSON columns (a metadata-only list never parses specs), labels a JSON column that label
selectors query in SQL. `next_event_at` marks the rows whose simulation must advance at that time
(rollouts in progress), so steady objects are never touched by a read.
"""

from __future__ import annotations

import gc
import hashlib
import json
import marshal
import sqlite3
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from reconciler.cluster.errors import ClusterError
from reconciler.cluster.selectors import parse_selector
from reconciler.kinds import WORKLOAD_KINDS, kind_of

Obj = dict[str, Any]
SCHEMA_VERSION = "1"
_DDL = """
CREATE TABLE IF NOT EXISTS objects (
    kind TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    rv INTEGER NOT NULL,
    uid TEXT NOT NULL,
    root TEXT,
    next_event_at REAL,
    labels TEXT NOT NULL,
    meta TEXT NOT NULL,
    sim TEXT,
    rest TEXT NOT NULL,
    PRIMARY KEY (kind, namespace, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS objects_due ON objects (next_event_at) WHERE next_event_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS objects_root ON objects (root, kind) WHERE root IS NOT NULL;
CREATE INDEX IF NOT EXISTS objects_list ON objects (kind, namespace, name, rv, labels);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fieldsets (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;
"""
#: managedFields[].fieldsV1 is stored once per distinct tree (2,000 similar Deployments share a
#: handful) in the fieldsets table; objects refer to it as "@<id>".
REF = "@"


@dataclass
class Row:
    """One stored object with the simulation's own bookkeeping beside it."""

    obj: Obj
    sim: dict[str, Any] = field(default_factory=dict)
    next_event_at: float | None = None
    root: str | None = None  # uid of the workload whose controller made this object

    @property
    def kind(self) -> str:
        return str(self.obj["kind"])

    @property
    def namespace(self) -> str:
        return str(self.obj["metadata"].get("namespace") or "")

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    @property
    def uid(self) -> str:
        return str(self.obj["metadata"]["uid"])


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _label_path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def selector_sql(selector: str | None) -> tuple[str, list[Any]]:
    """A WHERE fragment (and its parameters) matching a label selector against the labels column."""
    clauses: list[str] = []
    params: list[Any] = []
    for req in parse_selector(selector):
        path = _label_path(req.key)
        value = "json_extract(labels, ?)"
        if req.op == "=":
            clauses.append(f"{value} = ?")
            params += [path, req.values[0]]
        elif req.op == "!=":
            clauses.append(f"{value} IS NOT ?")
            params += [path, req.values[0]]
        elif req.op == "exists":
            clauses.append("json_type(labels, ?) IS NOT NULL")
            params.append(path)
        elif req.op == "!exists":
            clauses.append("json_type(labels, ?) IS NULL")
            params.append(path)
        else:
            marks = ",".join("?" * len(req.values)) or "NULL"
            if req.op == "in":
                clauses.append(f"{value} IN ({marks})")
                params += [path, *req.values]
            else:
                clauses.append(f"({value} IS NULL OR {value} NOT IN ({marks}))")
                params += [path, path, *req.values]
    return " AND ".join(clauses), params


def copy_meta(meta: Obj) -> Obj:
    """A copy of an ObjectMeta deep enough that changing it leaves the original alone (metadata is
    at most two levels deep, fieldsV1 trees aside: those stay shared and are read only)."""
    out = dict(meta)
    for key in ("labels", "annotations"):
        if key in out:
            out[key] = dict(out[key])
    for key in ("managedFields", "ownerReferences"):
        if key in out:
            out[key] = [dict(item) for item in out[key]]
    if "finalizers" in out:
        out["finalizers"] = list(out["finalizers"])
    return out


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection meanwhile. A large listing builds hundreds of thousands of
    acyclic containers at once; each collection the allocations trigger would walk every live
    object of the process again (the rendered tree of the caller included), which costs more
    than the decoding itself."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _interned_keys(value: Any) -> Any:
    """`value` with every dict key interned: marshal then writes each key once per object and
    loads it back as the one interned string (a quarter faster to load than plain keys)."""
    if isinstance(value, dict):
        return {sys.intern(k): _interned_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_interned_keys(v) for v in value]
    return value


class FieldsetCache:
    """Parsed fieldsV1 trees by id, shared by every object read in this process; the parsed
    metadata of objects by (kind, namespace, name), and the whole objects of listed workloads
    (marshal bytes: a fresh copy is one C call), valid while their resourceVersion is."""

    def __init__(self) -> None:
        self.text: dict[str, str] = {}
        self.parsed: dict[str, Any] = {}
        self.stored: set[str] = set()  # ids known to be committed to the fieldsets table
        self.metas: dict[tuple[str, str, str], tuple[int, Obj]] = {}
        self.objects: dict[tuple[str, str, str], tuple[int, bytes]] = {}
        self.lock = threading.Lock()

    def load(self, conn: sqlite3.Connection, ref: str, fresh: bool) -> Any:
        with self.lock:
            text = self.text.get(ref)
        if text is None:
            found = conn.execute("SELECT body FROM fieldsets WHERE id = ?", (ref,)).fetchone()
            text = str(found[0]) if found else "{}"
            with self.lock:
                self.text[ref] = text
                if found:
                    self.stored.add(ref)
        if fresh:
            return json.loads(text)
        with self.lock:
            tree = self.parsed.get(ref)
            if tree is None:
                tree = self.parsed[ref] = json.loads(text)
        return tree


def resolve(meta: Obj, cache: FieldsetCache, conn: sqlite3.Connection, fresh: bool,
            seen: dict[int, tuple[Any, str]] | None = None) -> Obj:
    """Replace fieldsV1 references by the trees (shared between objects unless `fresh`); `seen`
    remembers which tree came from which reference (so storing it again needs no encoding)."""
    for entry in meta.get("managedFields") or ():
        ref = entry.get("fieldsV1")
        if isinstance(ref, str) and ref.startswith(REF):
            tree = entry["fieldsV1"] = cache.load(conn, ref[1:], fresh)
            if seen is not None:
                seen[id(tree)] = (tree, ref[1:])
    return meta


class Txn:
    """Reads and writes inside one SQLite transaction."""

    def __init__(self, conn: sqlite3.Connection, cache: FieldsetCache) -> None:
        self.conn = conn
        self.cache = cache
        self._rv: int | None = None
        self.new_fieldsets: dict[str, str] = {}  # written in this transaction, cached once committed
        self.loaded: dict[int, tuple[Any, str]] = {}  # id(tree) -> (tree, its id), kept alive meanwhile

    # --- resource versions ---------------------------------------------------------------------
    def next_rv(self) -> str:
        if self._rv is None:
            row = self.conn.execute("SELECT value FROM settings WHERE key = 'rv'").fetchone()
            self._rv = int(row[0]) if row else 0
        self._rv += 1
        return str(self._rv)

    def _flush_rv(self) -> None:
        if self._rv is not None:
            self.conn.execute("INSERT INTO settings (key, value) VALUES ('rv', ?) "
                              "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(self._rv),))

    # --- rows ----------------------------------------------------------------------------------
    def get(self, kind: str, namespace: str | None, name: str) -> Row | None:
        found = self.conn.execute(
            "SELECT meta, rest, sim, next_event_at, root FROM objects WHERE kind = ? AND namespace = ? "
            "AND name = ?", (kind, namespace or "", name)).fetchone()
        return None if found is None else self._row(kind, found)

    def _row(self, kind: str, found: tuple[Any, ...]) -> Row:
        meta, rest, sim, next_event_at, root = found
        info = kind_of(kind)
        obj: Obj = {"apiVersion": info.api_version, "kind": kind,
                    "metadata": resolve(json.loads(meta), self.cache, self.conn, fresh=True, seen=self.loaded)}
        obj.update(json.loads(rest))
        return Row(obj, json.loads(sim) if sim else {}, next_event_at, root)

    def _stored_meta(self, meta: Obj) -> Obj:
        """The metadata with each fieldsV1 tree replaced by a reference to the fieldsets table."""
        if not meta.get("managedFields"):
            return meta
        entries = []
        for entry in meta["managedFields"]:
            tree = entry.get("fieldsV1")
            known = self.loaded.get(id(tree))
            if known is not None and known[0] is tree:
                entry = {**entry, "fieldsV1": REF + known[1]}
            elif isinstance(tree, dict):
                body = json.dumps(tree, separators=(",", ":"), sort_keys=True)
                ref = hashlib.sha1(body.encode()).hexdigest()[:20]
                self.loaded[id(tree)] = (tree, ref)
                if ref not in self.cache.stored and ref not in self.new_fieldsets:
                    self.conn.execute("INSERT OR IGNORE INTO fieldsets (id, body) VALUES (?, ?)", (ref, body))
                    self.new_fieldsets[ref] = body
                entry = {**entry, "fieldsV1": REF + ref}
            entries.append(entry)
        return {**meta, "managedFields": entries}

    def put(self, row: Row, *, bump: bool = True) -> None:
        """Insert or replace a row; `bump` gives the object a new resourceVersion."""
        meta = row.obj["metadata"]
        if bump:
            meta["resourceVersion"] = self.next_rv()
        rest = {k: v for k, v in row.obj.items() if k not in ("apiVersion", "kind", "metadata")}
        self.conn.execute(
            "INSERT OR REPLACE INTO objects (kind, namespace, name, rv, uid, root, next_event_at, labels, meta, "
            "sim, rest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row.kind, row.namespace, row.name, int(meta.get("resourceVersion") or 0), meta["uid"], row.root,
             row.next_event_at, _dumps(meta.get("labels") or {}), _dumps(self._stored_meta(meta)),
             _dumps(row.sim) if row.sim else None, _dumps(rest)))

    def schedule(self, kind: str, namespace: str | None, name: str, when: float | None) -> None:
        """Set when a row's simulation must next advance (never later than already scheduled)."""
        self.conn.execute(
            "UPDATE objects SET next_event_at = CASE WHEN next_event_at IS NULL OR ? IS NULL "
            "OR ? < next_event_at THEN ? ELSE next_event_at END WHERE kind = ? AND namespace = ? AND name = ?",
            (when, when, when, kind, namespace or "", name))

    def delete(self, kind: str, namespace: str | None, name: str) -> None:
        self.conn.execute("DELETE FROM objects WHERE kind = ? AND namespace = ? AND name = ?",
                          (kind, namespace or "", name))

    def children(self, root: str, kind: str | None = None) -> list[Row]:
        query = "SELECT kind, meta, rest, sim, next_event_at, root FROM objects WHERE root = ?"
        params: list[Any] = [root]
        if kind:
            query += " AND kind = ?"
            params.append(kind)
        return [self._row(k, rest) for k, *rest in self.conn.execute(query + " ORDER BY kind, name", params)]

    def rows(self, kind: str, namespace: str | None = None) -> list[Row]:
        query = "SELECT meta, rest, sim, next_event_at, root FROM objects WHERE kind = ?"
        params: list[Any] = [kind]
        if namespace is not None:
            query += " AND namespace = ?"
            params.append(namespace)
        return [self._row(kind, found) for found in self.conn.execute(query + " ORDER BY namespace, name", params)]

    def namespace_keys(self, namespace: str) -> list[tuple[str, str]]:
        return list(self.conn.execute("SELECT kind, name FROM objects WHERE namespace = ?", (namespace,)))

    def due(self, now: float, namespace: str | None = None) -> list[tuple[float, str, str, str]]:
        """Rows whose simulation must advance by `now` (in one namespace, or everywhere)."""
        where, args = ("", [now]) if namespace is None else (" AND namespace = ?", [now, namespace])
        return list(self.conn.execute(
            f"SELECT next_event_at, kind, namespace, name FROM objects WHERE next_event_at <= ?{where} "
            "ORDER BY next_event_at, kind, namespace, name", args))

    def any_due(self, now: float, namespace: str | None = None) -> bool:
        where, args = ("", [now]) if namespace is None else (" AND namespace = ?", [now, namespace])
        return self.conn.execute(f"SELECT 1 FROM objects WHERE next_event_at <= ?{where} LIMIT 1",
                                 args).fetchone() is not None

    def select(self, kind: str, namespace: str | None, selector: str | None, metadata_only: bool) -> list[Obj]:
        """Matching objects; their fieldsV1 trees are shared with other results (read them only)."""
        with gc_paused():
            if metadata_only:
                return self._list_metadata(kind, namespace, selector)
            if kind in WORKLOAD_KINDS:
                items = self._list_cached(kind, namespace, selector)
            else:
                items = json.loads(self.list_json(kind, namespace, selector, metadata_only))
            for item in items:
                resolve(item["metadata"], self.cache, self.conn, fresh=False)
            return items

    def _where(self, kind: str, namespace: str | None, selector: str | None) -> tuple[str, list[Any]]:
        where, params = selector_sql(selector)
        query = " FROM objects WHERE kind = ?"
        args: list[Any] = [kind]
        if namespace is not None:
            query += " AND namespace = ?"
            args.append(namespace)
        if where:
            query += " AND " + where
            args += params
        return query, args

    def _list_metadata(self, kind: str, namespace: str | None, selector: str | None) -> list[Obj]:
        """Metadata from the in-process cache where the resourceVersion still matches."""
        query, args = self._where(kind, namespace, selector)
        found = self.conn.execute(f"SELECT namespace, name, rv{query} ORDER BY namespace, name", args).fetchall()
        metas = self.cache.metas
        chosen: dict[tuple[str, str, str], Obj] = {}
        stale: list[tuple[str, str]] = []
        for ns, name, rv in found:
            cached = metas.get((kind, ns, name))
            if cached is not None and cached[0] == rv:
                chosen[(kind, ns, name)] = cached[1]
            else:
                stale.append((ns, name))
        if stale:
            rows: Iterable[tuple[str, str, int, str]]
            if len(stale) > 100:
                rows = self.conn.execute(f"SELECT namespace, name, rv, meta{query}", args).fetchall()
            else:
                rows = [r for ns, name in stale for r in self.conn.execute(
                    "SELECT namespace, name, rv, meta FROM objects WHERE kind = ? AND namespace = ? AND name = ?",
                    (kind, ns, name))]
            for ns, name, rv, text in rows:
                if (kind, ns, name) in chosen:
                    continue
                meta = resolve(json.loads(text), self.cache, self.conn, fresh=False)
                chosen[(kind, ns, name)] = meta
                with self.cache.lock:
                    metas[(kind, ns, name)] = (rv, meta)
        if selector is None:  # forget objects of this scope that are gone
            with self.cache.lock:
                for key in [k for k in metas if k[0] == kind and (namespace is None or k[1] == namespace)
                            and k not in chosen]:
                    del metas[key]
        info = kind_of(kind)
        return [{"apiVersion": info.api_version, "kind": kind, "metadata": copy_meta(chosen[(kind, ns, name)])}
                for ns, name, _ in found]

    def _list_cached(self, kind: str, namespace: str | None, selector: str | None) -> list[Obj]:
        """Whole objects (fieldsV1 trees still as references) from the in-process cache where the
        resourceVersion still matches: every cycle lists all workloads in full, and most of them
        have not changed since the last cycle. Only rows that changed are read and parsed."""
        query, args = self._where(kind, namespace, selector)
        found = self.conn.execute(f"SELECT namespace, name, rv{query} ORDER BY namespace, name", args).fetchall()
        cached_objects = self.cache.objects
        chosen: dict[tuple[str, str], bytes] = {}
        stale: list[tuple[str, str]] = []
        for ns, name, rv in found:
            cached = cached_objects.get((kind, ns, name))
            if cached is not None and cached[0] == rv:
                chosen[(ns, name)] = cached[1]
            else:
                stale.append((ns, name))
        if stale:
            rows: Iterable[tuple[str, str, int, str, str]]
            if len(stale) > 100:
                rows = self.conn.execute(f"SELECT namespace, name, rv, meta, rest{query}", args).fetchall()
            else:
                rows = [r for ns, name in stale for r in self.conn.execute(
                    "SELECT namespace, name, rv, meta, rest FROM objects WHERE kind = ? AND namespace = ? "
                    "AND name = ?", (kind, ns, name))]
            api_version = kind_of(kind).api_version
            for ns, name, rv, meta, rest in rows:
                if (ns, name) in chosen:
                    continue
                obj: Obj = {"apiVersion": api_version, "kind": kind, "metadata": json.loads(meta)}
                obj.update(json.loads(rest))
                blob = marshal.dumps(_interned_keys(obj))
                chosen[(ns, name)] = blob
                with self.cache.lock:
                    cached_objects[(kind, ns, name)] = (rv, blob)
        if selector is None:  # forget objects of this scope that are gone
            with self.cache.lock:
                for key in [k for k in cached_objects if k[0] == kind and (namespace is None or k[1] == namespace)
                            and (k[1], k[2]) not in chosen]:
                    del cached_objects[key]
        loads = marshal.loads
        return [loads(chosen[(ns, name)]) for ns, name, _ in found]

    def list_json(self, kind: str, namespace: str | None, selector: str | None, metadata_only: bool) -> str:
        """Matching objects as the text of one JSON array (assembled by SQLite: one parse in Python),
        fieldsV1 trees still as references."""
        info = kind_of(kind)
        head = _dumps({"apiVersion": info.api_version, "kind": kind})[:-1] + ',"metadata":'
        clause, clause_args = self._where(kind, namespace, selector)
        query = "SELECT ? || meta"
        query += " || '}'" if metadata_only else " || CASE WHEN rest = '{}' THEN '}' ELSE ',' || substr(rest, 2) END"
        query += " AS doc" + clause
        args: list[Any] = [head, *clause_args]
        found = self.conn.execute(
            f"SELECT '[' || coalesce(group_concat(doc, ','), '') || ']' FROM ({query} ORDER BY namespace, name)",
            args).fetchone()
        return str(found[0])


class Store:
    """The state file. One connection per Store, used under a lock (threads share it)."""

    def __init__(self, path: str | Path, busy_timeout: float = 30.0) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self.cache = FieldsetCache()
        self.conn = sqlite3.connect(str(self.path), timeout=busy_timeout, isolation_level=None,
                                    check_same_thread=False)
        self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self._create_schema()

    def _create_schema(self) -> None:
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _DDL.split(";"):
                    if statement.strip():
                        self.conn.execute(statement)
                self.conn.execute("INSERT OR IGNORE INTO settings (key, value) VALUES ('schema', ?)",
                                  (SCHEMA_VERSION,))
                found = self.conn.execute("SELECT value FROM settings WHERE key = 'schema'").fetchone()
                if found[0] != SCHEMA_VERSION:
                    raise ClusterError(f"{self.path}: simulated cluster state of schema {found[0]}, this version "
                                       f"reads schema {SCHEMA_VERSION}; remove the file to start afresh")
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise

    @contextmanager
    def write(self) -> Iterator[Txn]:
        """A write transaction (BEGIN IMMEDIATE: writers queue on the file lock, readers go on)."""
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            txn = Txn(self.conn, self.cache)
            try:
                yield txn
                txn._flush_rv()
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            with self.cache.lock:
                self.cache.text.update(txn.new_fieldsets)
                self.cache.stored.update(txn.new_fieldsets)

    @contextmanager
    def read(self) -> Iterator[Txn]:
        """A read transaction: one consistent snapshot."""
        with self._lock:
            self.conn.execute("BEGIN")
            try:
                yield Txn(self.conn, self.cache)
            finally:
                self.conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self.conn.close()
