"""The drift report and the status of a service as JSON documents (pure; spec sections 5 and 7).

The daemon (`/api/v1/drift`, `/api/v1/status/<service>`) and the CLI (`reconciler drift`,
`reconciler status`) build the same documents from the same rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.report.status import SETTLED, Row


def bad_first(rows: Sequence[Row]) -> list[Row]:
    """Rows needing attention first (Invalid ones, git nobody can deploy, before the rest), then
    by cluster, service, instance."""
    return sorted(rows, key=lambda r: (r.status in SETTLED, r.status != "Invalid", r.cluster, r.service, r.instance))


def drift_document(*, generated_at: str, source: Mapping[str, Any], clusters: Mapping[str, Mapping[str, Any]],
                   rows: Sequence[Row]) -> dict[str, Any]:
    """`reconciler drift -o json` / `GET /api/v1/drift`."""
    return {"generated_at": generated_at, "source": dict(source),
            "clusters": {name: dict(info) for name, info in clusters.items()},
            "instances": [r.as_dict() for r in bad_first(rows)]}


def versions_present(pods: Sequence[Mapping[str, Any]], label_domain: str) -> dict[tuple[str, str], dict[str, int]]:
    """Per (service, instance): running pods by git sha (a rollout shows old and new)."""
    found: dict[tuple[str, str], Counter[str]] = {}
    for pod in pods:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        key = (str(labels.get(f"{label_domain}/service", "")), str(labels.get(f"{label_domain}/instance", "")))
        found.setdefault(key, Counter())[str(labels.get(f"{label_domain}/git_sha", "?"))] += 1
    return {k: dict(v) for k, v in found.items()}


def status_document(service: str, drift: Mapping[str, Any],
                    versions: Mapping[str, Mapping[tuple[str, str], Mapping[str, int]]]) -> dict[str, Any]:
    """`reconciler status SERVICE -o json` / `GET /api/v1/status/<service>`: per instance per
    cluster the desired state, running/desired replicas, versions present (old/new), rollout
    state and halted train. `versions`: cluster -> (service, instance) -> git sha -> pods."""
    instances = []
    for row in drift["instances"]:
        if row["service"] != service:
            continue
        desired, live = row.get("desired") or {}, row.get("live") or {}
        present = dict(versions.get(row["cluster"], {}).get((service, row["instance"]), {}))
        new = desired.get("git_sha")
        instances.append({
            "cluster": row["cluster"], "instance": row["instance"], "status": row["status"],
            "desired_state": "stop" if desired.get("replicas") == 0 else "start",
            "replicas": {"desired": desired.get("replicas"), "live": live.get("replicas"),
                         "ready": live.get("ready_replicas")},
            "versions": {"new": new, "pods": present,
                         "old": sorted(sha for sha in present if sha != new)},
            "rollout": {"status": row["status"], "message": row["message"], "since": row.get("since")},
            "train": row.get("train"), "deploy_group": row.get("deploy_group"),
            "differences": row.get("differences", []),
        })
    return {"service": service, "generated_at": drift["generated_at"], "source": drift["source"],
            "clusters": drift["clusters"], "instances": instances}
