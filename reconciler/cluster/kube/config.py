"""Connection settings for a real Kubernetes API server, read with the official client.

The `kubernetes` package is used here for what it does well and nothing else: reading a
kubeconfig (contexts, client certificates, bearer tokens, exec plugins, token refresh) or the
in-cluster service account, and building the TLS-configured urllib3 pool it talks through.
Requests themselves are sent by `kube_http.Transport`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import urllib3
from kubernetes import client as kclient
from kubernetes import config as kconfig

from reconciler.cluster.errors import ClusterError


@dataclass
class Connection:
    """Where the API server is, how to authenticate, and the HTTP pool to reach it through."""

    host: str
    pool: urllib3.PoolManager
    api_client: kclient.ApiClient
    _auth_lock: threading.Lock

    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate a request (a bearer token, refreshed when it expires).

        Client certificates are part of the pool's TLS settings and need no header."""
        with self._auth_lock:  # a refresh hook may rewrite the configuration
            try:
                settings = self.api_client.configuration.auth_settings()
            except Exception as exc:  # an exec plugin or token file failing: no client types leak
                raise ClusterError(f"cannot get credentials for {self.host}: {exc}") from None
        headers: dict[str, str] = {}
        for setting in settings.values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[str(setting["key"])] = str(setting["value"])
        return headers

    def close(self) -> None:
        self.api_client.close()  # type: ignore[no-untyped-call]


def _tune(configuration: kclient.Configuration, pool_size: int) -> None:
    # Retries belong to the transport (counted, with backoff); urllib3 must not retry silently.
    configuration.retries = False
    configuration.connection_pool_maxsize = pool_size


def _connection(api_client: kclient.ApiClient) -> Connection:
    host = str(api_client.configuration.host).rstrip("/")
    if not host.startswith(("https://", "http://")):
        raise ClusterError(f"API server address {host!r} is not an http(s) URL")
    return Connection(host=host, pool=api_client.rest_client.pool_manager, api_client=api_client,
                      _auth_lock=threading.Lock())


def from_kubeconfig(path: str | None, context: str | None = None, *, pool_size: int = 16) -> Connection:
    """A connection from a kubeconfig file (None: $KUBECONFIG or ~/.kube/config) and context
    (None: the file's current context). The file is never written back."""
    configuration = kclient.Configuration()
    _tune(configuration, pool_size)
    try:
        api_client = kconfig.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=path, context=context, persist_config=False,
            client_configuration=configuration)
    except (kconfig.ConfigException, OSError, ValueError, TypeError, KeyError) as exc:
        where = f"context {context!r} of " if context else ""
        raise ClusterError(f"cannot load {where}kubeconfig {path or '(default)'}: {exc}") from None
    return _connection(api_client)


def in_cluster(*, pool_size: int = 16) -> Connection:
    """A connection as the pod's service account (token re-read as kubelet rotates it)."""
    configuration = kclient.Configuration()
    try:
        kconfig.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except (kconfig.ConfigException, OSError, ValueError) as exc:
        raise ClusterError(f"cannot load the in-cluster configuration: {exc}") from None
    _tune(configuration, pool_size)
    return _connection(kclient.ApiClient(configuration))
