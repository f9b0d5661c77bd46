"""Kubernetes names derived from service and instance names, and their limits."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from fnmatch import fnmatchcase

from reconciler.soa.issues import Issue, error
from reconciler.soa.model import InstanceConfig

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def sanitise(name: str) -> str:
    """Lower-case, `_` -> `--`, a leading `--` -> `underscore-` (PaaSTA's rule)."""
    out = name.replace("_", "--")
    if out.startswith("--"):
        out = "underscore-" + out[2:]
    return out.lower()


def workload_name(service: str, instance: str) -> str:
    return f"{sanitise(service)}-{sanitise(instance)}"


def namespace_name(config: InstanceConfig) -> str:
    return config.namespace or f"paastasvc-{sanitise(config.service)}"


def sanitised_volume_name(raw: str, limit: int = 0) -> str:
    """PaaSTA's volume name: `/` -> `slash-`, `.` -> `dot-`, trailing `/` dropped, sanitised;
    over `limit`, cut and suffixed with `--` and 4 hex digits of its md5."""
    name = sanitise(raw.rstrip("/").replace("/", "slash-").replace(".", "dot-"))
    if limit and len(name) > limit:
        name = name[:limit - 6] + "--" + hashlib.md5(name.encode("ascii")).hexdigest()[:4]  # noqa: S324 - a name
    return name


def volume_name(container_path: str) -> str:
    """The claim (and mount) name of a persistent volume: `pv--` + the sanitised path."""
    return sanitised_volume_name(f"pv--{container_path}", 253)


def limit_with_hash(name: str, limit: int = 63, suffix: int = 4) -> str:
    """`name`, or when longer than `limit` its start and `-` + base32 of its md5 (PaaSTA's rule)."""
    if len(name) <= limit:
        return name
    digest = base64.b32encode(hashlib.md5(name.encode()).digest()).decode().replace("=", "").lower()  # noqa: S324
    return f"{name[:limit - suffix - 1]}-{digest[:suffix]}"


#: The service name PaaSTA keeps shared secrets under.
SHARED_SECRET_SERVICE = "_shared"


def secret_name(namespace: str, service: str, key: str) -> str:
    """The Secret PaaSTA stores a service's secret `key` in (`<ns>-secret-<service>-<key>`)."""
    return limit_with_hash(f"{namespace}-secret-{sanitise(service)}-{sanitise(key)}", 253)


def name_issues(config: InstanceConfig) -> list[Issue]:
    """Names that Kubernetes would refuse: label values, DNS labels, object names."""
    found: list[Issue] = []

    def bad(key: str | None, message: str) -> None:
        found.append(error(config.source, message, service=config.service,
                           instance=config.instance, cluster=config.cluster, key=key))

    def label_value(key: str | None, what: str, value: str) -> None:
        if len(value) > 63:
            bad(key, f"{what} {value!r} is {len(value)} characters; a label value allows 63")
        elif not LABEL_VALUE.match(value):
            bad(key, f"{what} {value!r} is not a valid label value "
                     "(letters, digits, '-', '_', '.', starting and ending with a letter or digit)")

    def dns_label(key: str | None, what: str, value: str) -> None:
        if len(value) > 63:
            bad(key, f"{what} {value!r} is {len(value)} characters; Kubernetes allows 63")
        elif not DNS_LABEL.match(value):
            bad(key, f"{what} {value!r} is not a valid DNS label")

    label_value(None, "service name", config.service)
    label_value(None, "instance name", config.instance)
    label_value("deploy_group", "deploy group", config.deploy_group)
    label_value(None, "cluster name", config.cluster)
    dns_label("namespace" if config.namespace else None, "namespace", namespace_name(config))
    dns_label(None, "container name", sanitise(config.instance))
    name = workload_name(config.service, config.instance)
    if config.stateful:
        dns_label(None, "StatefulSet name", name)
    elif len(name) > 253 or not DNS_SUBDOMAIN.match(name):
        bad(None, f"Deployment name {name!r} is not a valid DNS subdomain of at most 253 characters")
    for i, volume in enumerate(config.persistent_volumes):
        dns_label(f"persistent_volumes[{i}].container_path", "volume name",
                  volume_name(volume.container_path))
    return found


def bounds(config: InstanceConfig, namespaces: Sequence[str] | None,
           service_accounts: Sequence[str] | None) -> list[Issue]:
    """An instance whose namespace or `service_account_name` is outside what the cluster allows
    (`allowed_namespaces`, `allowed_service_accounts`: glob patterns; None: no bound)."""
    found = []
    checks = [("namespace", namespace_name(config), namespaces, "namespace" if config.namespace else None)]
    account = config.extended.get("service_account_name")
    if account:
        checks.append(("service account", str(account), service_accounts, "service_account_name"))
    for what, name, allowed, key in checks:
        if allowed is not None and not any(fnmatchcase(name, pattern) for pattern in allowed):
            setting = "allowed_namespaces" if what == "namespace" else "allowed_service_accounts"
            found.append(error(config.source, f"{what} {name!r} is outside this cluster's {setting} {list(allowed)}",
                               service=config.service, instance=config.instance, cluster=config.cluster, key=key))
    return found
