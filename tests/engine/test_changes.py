"""Change detection from a listing: config_sha label and replicas, no GET."""

from __future__ import annotations

from typing import Any

from reconciler.engine.changes import config_sha, needs_apply

DOMAIN = "example.com"


def obj(kind: str = "Deployment", sha: str | None = "config1", replicas: int | None = None,
        metadata_only: bool = False) -> dict[str, Any]:
    labels = {f"{DOMAIN}/managed": "true"}
    if sha is not None:
        labels[f"{DOMAIN}/config_sha"] = sha
    out: dict[str, Any] = {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "web", "labels": labels}}
    if not metadata_only:
        out["spec"] = {} if replicas is None else {"replicas": replicas}
    return out


def test_missing_object() -> None:
    assert needs_apply(obj(), None, DOMAIN) == "missing"


def test_same_sha_is_no_change() -> None:
    assert needs_apply(obj(replicas=3), obj(metadata_only=True), DOMAIN) is None


def test_config_sha_changed() -> None:
    assert needs_apply(obj(sha="config2"), obj(metadata_only=True), DOMAIN) == "config_sha changed"


def test_live_without_the_label_needs_apply() -> None:
    assert needs_apply(obj(), obj(sha=None, metadata_only=True), DOMAIN) == "config_sha changed"


def test_sha_is_read_under_the_configured_domain() -> None:
    assert config_sha(obj(), DOMAIN) == "config1"
    assert config_sha(obj(), "other.example.com") is None
    assert needs_apply(obj(), obj(sha="config2"), "other.example.com") is None


def test_replicas_from_the_argument() -> None:
    live = obj(metadata_only=True)
    assert needs_apply(obj(replicas=5), live, DOMAIN, live_replicas=3) == "replicas 3 -> 5"
    assert needs_apply(obj(replicas=5), live, DOMAIN, live_replicas=5) is None


def test_replicas_from_a_full_listing() -> None:
    assert needs_apply(obj(replicas=5), obj(replicas=3), DOMAIN) == "replicas 3 -> 5"
    assert needs_apply(obj(kind="StatefulSet", replicas=0), obj(kind="StatefulSet", replicas=2), DOMAIN) \
        == "replicas 2 -> 0"


def test_unknown_live_replicas_is_no_change() -> None:
    assert needs_apply(obj(replicas=5), obj(metadata_only=True), DOMAIN) is None


def test_config_sha_wins_over_replicas() -> None:
    assert needs_apply(obj(sha="config2", replicas=5), obj(replicas=3), DOMAIN) == "config_sha changed"


def test_autoscaled_workload_never_scales() -> None:
    # The HPA owns the replicas: the desired object carries none.
    assert needs_apply(obj(replicas=None), obj(replicas=7), DOMAIN, live_replicas=7) is None


def test_replicas_only_count_for_workloads() -> None:
    hpa = obj(kind="HorizontalPodAutoscaler", replicas=5)
    assert needs_apply(hpa, obj(kind="HorizontalPodAutoscaler", replicas=3), DOMAIN, live_replicas=3) is None


def test_a_stopped_autoscaled_workload_needs_its_first_replicas_again() -> None:
    # The HPA never scales up from 0: starting after a stop is a scale the reconciler makes.
    assert needs_apply(obj(replicas=None), obj(replicas=0), DOMAIN) == \
        "replicas 0 -> min_instances (starting an autoscaled instance)"
