"""How a deploy group does at a release's sha, from the drift rows of every cluster (pure).

A group is healthy at a sha when every row of it, on every configured cluster that runs it,
renders that sha (deployments.json has caught up) and is Synced or Stopped (a Drifted row
holds: what runs is not what git says). A Degraded row or a halted train fails it. An
unreachable cluster, an Invalid row or anything still rolling out holds it (unknown or
progressing). A group no configured cluster runs is healthy: nothing waits for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reconciler.engine.release import FAILED, HEALTHY, PROGRESSING, UNKNOWN, GroupHealth
from reconciler.report.status import Row

RUNNING = frozenset({"Synced", "Stopped"})


def group_health(service: str, group: str, sha: str, rows: Mapping[str, Sequence[Row]],
                 reachable: Mapping[str, bool | None], runs_on: Sequence[str]) -> GroupHealth:
    """`group` of `service` at `sha`: `rows` per cluster (the last cycle's), `reachable` per
    cluster (None: not reconciled yet), `runs_on`: the clusters whose soa-configs give the
    group an instance."""
    failed, waiting, unknown = [], [], []
    for cluster in runs_on:
        if reachable.get(cluster) is not True:
            unknown.append(f"cluster {cluster} not observed")
            continue
        mine = [r for r in rows.get(cluster, ()) if r.service == service and r.deploy_group == group]
        if not mine:
            waiting.append(f"{cluster}: no row yet")
        for row in mine:
            where = f"{cluster} {service}.{row.instance}"
            if row.status == "Invalid":
                unknown.append(f"{where} is Invalid: {row.message}")
                continue
            rendered = (row.desired or {}).get("git_sha")
            if rendered != sha:
                waiting.append(f"{where} renders {str(rendered or 'nothing')[:8]} (deployments.json not at "
                               f"{sha[:8]} yet)")
            elif row.status == "Degraded" or row.train.get("halted"):
                failed.append(f"{where} {row.status}: {row.train.get('reason') or row.message}")
            elif row.status not in RUNNING:
                waiting.append(f"{where} {row.status}")
    if failed:
        return GroupHealth(FAILED, "; ".join(failed))
    if unknown:
        return GroupHealth(UNKNOWN, "; ".join(unknown + waiting))
    if waiting:
        return GroupHealth(PROGRESSING, "; ".join(waiting))
    return GroupHealth(HEALTHY)
