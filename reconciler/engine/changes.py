"""Change detection from a listing: does a desired object need an apply? No per-object GET.

A metadata-only listing carries the `config_sha` label; workloads listed in full also carry
`spec.replicas` (or the caller passes the live replicas it knows)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.kinds import WORKLOAD_KINDS


def config_sha(obj: Mapping[str, Any], label_domain: str) -> str | None:
    """The object's `<label_domain>/config_sha` label, or None."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    value = labels.get(f"{label_domain}/config_sha")
    return value if isinstance(value, str) else None


def needs_apply(desired: Mapping[str, Any], live_metadata: Mapping[str, Any] | None,
                label_domain: str, live_replicas: int | None = None) -> str | None:
    """Why `desired` must be applied over the live object (a human reason), or None.

    `live_metadata` is the object from a (metadata-only) listing, None when it is not on the
    cluster. Replicas are compared only for workloads whose desired object sets them
    (autoscaled ones do not: the HPA owns them), against `live_replicas` or else the listed
    object's own `spec.replicas` when the listing was a full one. An autoscaled workload at 0
    replicas (it was stopped) needs its first replicas again: the HPA does not scale from 0."""
    if live_metadata is None:
        return "missing"
    want, have = config_sha(desired, label_domain), config_sha(live_metadata, label_domain)
    if want != have:
        return "config_sha changed"
    if desired.get("kind") not in WORKLOAD_KINDS:
        return None
    desired_replicas = (desired.get("spec") or {}).get("replicas")
    if live_replicas is None:
        live_replicas = (live_metadata.get("spec") or {}).get("replicas")
    if desired_replicas is None:
        # Autoscaled: the HPA owns replicas, except that it never scales up from 0 (a start).
        return "replicas 0 -> min_instances (starting an autoscaled instance)" if live_replicas == 0 else None
    if live_replicas is not None and live_replicas != desired_replicas:
        return f"replicas {live_replicas} -> {desired_replicas}"
    return None
