"""The cluster protocol on a real Kubernetes API server.

Configuration, authentication and TLS come from the official `kubernetes` client
(`kube_config`); requests go out raw through its urllib3 pool and come back as plain dicts
(`kube_http`), without the client's model classes. Writes are server-side apply.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Sequence
from typing import Any, Callable
from urllib.parse import quote

from reconciler.cluster.errors import ClusterError, Invalid
from reconciler.cluster.kube.config import Connection, from_kubeconfig, in_cluster
from reconciler.cluster.kube.http import Request, TransferStats, Transport
from reconciler.cluster.protocol import FIELD_MANAGER, Obj, RequestCounters
from reconciler.kinds import WORKLOAD_KINDS, Kind, kind_of

#: The server turns a list into PartialObjectMetadata items (metadata only) for this Accept.
METADATA_LIST_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"  # JSON is YAML: the body is JSON
MERGE_PATCH_CONTENT_TYPE = "application/merge-patch+json"
PAGE_SIZE = 500


def _where(kind: str, name: str | None, namespace: str | None) -> str:
    if name is None:
        return f"{kind} in {namespace}" if namespace else f"{kind} (all namespaces)"
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


class KubeCluster:
    """One real cluster. Thread-safe: one instance may serve every worker thread of a cycle.

    `qps`/`burst`: client-side token bucket (qps <= 0: no limit). `timeout`: seconds to connect
    and between bytes of a response. `attempts`: tries per request for 429, 5xx, timeouts and
    connection errors (backoff 0.25 s doubling to 8 s, with jitter; Retry-After honoured).
    `list_from_cache`: list workloads with resourceVersion=0 (one request answered from the
    API server's watch cache, possibly a little stale, no paging) instead of consistent pages.
    `gzip`: accept compressed responses (the server compresses those over 128 KiB; as client-go).
    `sleep`: for tests (rate-limit and backoff waits).
    """

    def __init__(self, name: str, connection: Connection, *, qps: float = 50.0, burst: int = 100,
                 timeout: float = 30.0, attempts: int = 5, page_size: int = PAGE_SIZE,
                 list_from_cache: bool = False, gzip: bool = True,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.name = name
        self.counters = RequestCounters()
        self.page_size = page_size
        self.list_from_cache = list_from_cache
        self._connection = connection
        self._http = Transport(connection, self.counters, qps=qps, burst=burst, timeout=timeout,
                               attempts=attempts, gzip=gzip, sleep=sleep)
        self._closed = threading.Event()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_kubeconfig(cls, name: str, path: str | None, context: str | None = None, *,
                        pool_size: int = 16, **options: Any) -> KubeCluster:
        """From a kubeconfig file (None: $KUBECONFIG or ~/.kube/config) and context (None: the
        file's current one). `pool_size`: keep-alive connections kept (more threads than that
        still work, on short-lived connections). Other options as for the constructor."""
        return cls(name, from_kubeconfig(path, context, pool_size=pool_size), **options)

    @classmethod
    def in_cluster(cls, name: str, *, pool_size: int = 16, **options: Any) -> KubeCluster:
        """As the service account of the pod this runs in."""
        return cls(name, in_cluster(pool_size=pool_size), **options)

    @property
    def host(self) -> str:
        return self._connection.host

    @property
    def stats(self) -> TransferStats:
        """Requests, retries, bytes and seconds (beyond the protocol's counters)."""
        return self._http.stats

    # ------------------------------------------------------------------ reads
    def list(self, kind: str, *, selector: str | None = None, namespace: str | None = None,
             metadata_only: bool = False) -> list[Obj]:
        k = kind_of(kind)
        namespace = namespace if k.namespaced else None
        path = k.path(namespace)
        describe = _where(kind, None, namespace)
        accept = METADATA_LIST_ACCEPT if metadata_only else "application/json"
        base: list[tuple[str, str]] = [("labelSelector", selector)] if selector else []
        if self.list_from_cache and kind in WORKLOAD_KINDS and not metadata_only:
            # resourceVersion=0: served from the watch cache in one piece (the server ignores
            # limit), at the price of possibly trailing the latest writes a little.
            page = self._read(path, describe, [*base, ("resourceVersion", "0")], accept)
            return [self._item(k, item, metadata_only) for item in page.get("items") or ()]
        items: list[Obj] = []
        token: str | None = None
        restarted = False
        while True:
            params = [*base, ("limit", str(self.page_size))]
            if token:
                params.append(("continue", token))
            try:
                page = self._read(path, describe, params, accept)
            except ClusterError as exc:
                if exc.status == 410 and token and not restarted:
                    # the continue token expired (compaction): start over once, as client-go does
                    items, token, restarted = [], None, True
                    continue
                raise
            items.extend(self._item(k, item, metadata_only) for item in page.get("items") or ())
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items

    def get(self, kind: str, name: str, namespace: str | None = None) -> Obj:
        k = kind_of(kind)
        namespace = namespace if k.namespaced else None
        obj = self._read(k.path(namespace, quote(name, safe="")), _where(kind, name, namespace), ())
        return self._item(k, obj, False)

    # ------------------------------------------------------------------ writes
    def apply(self, obj: Obj, *, field_manager: str = FIELD_MANAGER, force: bool = True,
              dry_run: bool = False) -> Obj:
        kind = str(obj.get("kind") or "")
        meta = obj.get("metadata") or {}
        name, namespace = meta.get("name"), meta.get("namespace")
        k = kind_of(kind)
        if obj.get("apiVersion") and obj["apiVersion"] != k.api_version:
            k = dataclasses.replace(k, api_version=str(obj["apiVersion"]))
        describe = _where(kind, name, namespace)
        if not name:
            raise Invalid(f"{describe}: metadata.name is required")
        if k.namespaced and not namespace:
            raise Invalid(f"{describe}: metadata.namespace is required for a {kind}")
        if not k.namespaced:
            namespace = None
        params = [("fieldManager", field_manager)]
        if force:
            params.append(("force", "true"))
        if dry_run:
            params.append(("dryRun", "All"))
        try:
            body = json.dumps(obj, separators=(",", ":")).encode()
        except (TypeError, ValueError) as exc:
            raise Invalid(f"{describe}: not a JSON object: {exc}") from None
        # Server-side apply is idempotent: the same body twice leaves one result, so every
        # failure worth retrying may be retried.
        result = self._send(Request(
            method="PATCH", path=k.path(namespace, quote(str(name), safe="")), describe=describe,
            counter="dry_runs" if dry_run else "writes", params=params,
            body=body, content_type=APPLY_CONTENT_TYPE))
        return self._item(k, result, False)

    def create(self, obj: Obj, *, field_manager: str = FIELD_MANAGER) -> Obj:
        kind = str(obj.get("kind") or "")
        meta = obj.get("metadata") or {}
        name, namespace = meta.get("name"), meta.get("namespace")
        k = kind_of(kind)
        namespace = namespace if k.namespaced else None
        describe = _where(kind, name, namespace)
        if not name:
            raise Invalid(f"{describe}: metadata.name is required")
        # Not idempotent: a retry after an ambiguous failure could meet its own object (409),
        # so only failures where the server surely did not act are retried.
        result = self._send(Request(
            method="POST", path=k.path(namespace), describe=describe, counter="writes",
            params=[("fieldManager", field_manager)], body=json.dumps(obj, separators=(",", ":")).encode(),
            content_type="application/json"))
        return self._item(k, result, False)

    def set_managed_fields(self, kind: str, name: str, namespace: str | None, entries: Sequence[Obj], *,
                           resource_version: str, dry_run: bool = False) -> Obj:
        k = kind_of(kind)
        namespace = namespace if k.namespaced else None
        body = {"metadata": {"managedFields": entries, "resourceVersion": resource_version}}
        params = [("fieldManager", FIELD_MANAGER)] + ([("dryRun", "All")] if dry_run else [])
        result = self._send(Request(
            method="PATCH", path=k.path(namespace, quote(name, safe="")), describe=_where(kind, name, namespace),
            counter="dry_runs" if dry_run else "writes", params=params,
            body=json.dumps(body, separators=(",", ":")).encode(), content_type=MERGE_PATCH_CONTENT_TYPE))
        return self._item(k, result, False)

    def delete(self, kind: str, name: str, namespace: str | None = None, *,
               propagation: str = "Background", uid: str | None = None, resource_version: str | None = None,
               dry_run: bool = False) -> None:
        k = kind_of(kind)
        namespace = namespace if k.namespaced else None
        options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions",
                                   "propagationPolicy": propagation}
        preconditions = {k: v for k, v in (("uid", uid), ("resourceVersion", resource_version)) if v}
        if preconditions:
            options["preconditions"] = preconditions
        if dry_run:
            options["dryRun"] = ["All"]
        # With a uid the delete can only ever hit the incarnation it names, so it is safe to send
        # again after an ambiguous failure; without one, a retry could delete a new object of the
        # same name created meanwhile, so it is retried only when the server surely did not act.
        self._send(Request(
            method="DELETE", path=k.path(namespace, quote(name, safe="")),
            describe=_where(kind, name, namespace), counter="dry_runs" if dry_run else "writes",
            body=json.dumps(options).encode(), content_type="application/json",
            idempotent=bool(uid) or dry_run, gone_ok_after_retry=True))

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self._connection.close()

    def __enter__(self) -> KubeCluster:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"KubeCluster({self.name!r}, {self.host!r})"

    # ------------------------------------------------------------------ helpers
    def _send(self, request: Request) -> Any:
        if self._closed.is_set():
            raise ClusterError(f"{request.describe}: cluster {self.name} is closed")
        return self._http.request(request)

    def _read(self, path: str, describe: str, params: Any, accept: str = "application/json") -> Obj:
        result = self._send(Request(method="GET", path=path, describe=describe, counter="reads",
                                    params=params, accept=accept))
        if not isinstance(result, dict):
            raise ClusterError(f"{describe}: unexpected response {type(result).__name__}")
        return result

    @staticmethod
    def _item(k: Kind, obj: Obj, metadata_only: bool) -> Obj:
        """apiVersion and kind filled in (list items carry neither, PartialObjectMetadata the
        wrong ones); for metadata-only reads nothing but those and metadata."""
        if metadata_only:
            return {"apiVersion": k.api_version, "kind": k.kind, "metadata": obj.get("metadata") or {}}
        if obj.get("apiVersion") == k.api_version and obj.get("kind") == k.kind:
            return obj
        return {**obj, "apiVersion": k.api_version, "kind": k.kind} if "kind" in obj else \
            {"apiVersion": k.api_version, "kind": k.kind, **obj}
