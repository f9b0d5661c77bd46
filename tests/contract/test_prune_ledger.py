"""The prune window on both backends: a mass deletion split over several commits is refused like
one made at once, counted from a ledger on the cluster that every client shares."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from reconciler.cluster.protocol import Cluster
from reconciler.engine.actions import Action, GroupCount, PruneDecision
from reconciler.reconcile.ledger import NAME, Ledger, parse
from tests.support.fleet import CLUSTER, GOOD

EIGHT = [f"i{n}" for n in range(8)]


def instances(names: list[str]) -> str:
    return "".join(f"{n}: {{instances: 1}}\n" for n in names)


def deployments(f: Any) -> set[str]:
    return {d["metadata"]["name"] for d in f.cluster.list("Deployment", namespace=f.namespace)}


def test_deleting_in_several_commits_is_refused_like_one_deletion(fleet: Any) -> None:
    f = fleet(prune=True, max_prune_fraction=0.5)
    groups = {f"{CLUSTER}.{i}": GOOD for i in EIGHT}
    f.write(instances(EIGHT), groups)
    f.cycle()
    f.write(instances(EIGHT[:4]), groups)  # half of them: allowed
    first = f.cycle()
    assert not first.plan.prune.refused and len(deployments(f)) == 4
    ledger = f.cluster.get("ConfigMap", NAME, f.ledger_namespace)
    assert sorted(e.name for e in parse(ledger) if e.group == "workloads") == [f"{f.service}-{i}" for i in EIGHT[4:]]

    f.write(instances(EIGHT[:2]), groups)  # half of the rest: 6 of 8 within the hour
    second = f.cycle()
    assert second.plan.prune.refused and "after 4 deleted in the last 3600 s (75% of 8)" in (second.plan.prune.reason or "")
    assert not [a for a in second.plan.actions if a.action == "delete"] and len(deployments(f)) == 4
    # another client (a CLI run, a restarted daemon) counts the same deletions
    assert Ledger(f.cluster, f.policy).recent(datetime.now(UTC)) == {"workloads": 4}


class RacingCluster:
    """A second writer that records its own deletions in the ledger just before ours."""

    def __init__(self, cluster: Cluster, policy: Any) -> None:
        self.cluster = cluster
        self.policy = policy
        self.raced = False

    def apply(self, obj: dict[str, Any], **kw: Any) -> Any:
        if obj["kind"] == "ConfigMap" and not self.raced:
            self.raced = True
            other = Ledger(self.cluster, self.policy)
            assert other.record([Action("delete", "Deployment", "x", f"other-{n}", "s", "i", "gone", prune_group="workloads")
                                 for n in range(3)], PruneDecision(3, False, None), datetime.now(UTC)) is None
        return self.cluster.apply(obj, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cluster, name)


def test_a_concurrent_writer_is_counted_before_anything_is_deleted(fleet: Any) -> None:
    f = fleet(prune=True, max_prune_fraction=0.5)
    now = datetime.now(UTC)
    seed = Ledger(f.cluster, f.policy)
    assert seed.record([Action("delete", "Deployment", "x", "old", "s", "i", "gone", prune_group="workloads")],
                       PruneDecision(1, False, None), now) is None
    decision = PruneDecision(2, False, None, groups=(GroupCount("workloads", 2, 6),))
    ours = [Action("delete", "Deployment", "x", f"ours-{n}", "s", "i", "gone", prune_group="workloads") for n in range(2)]
    racing = Ledger(RacingCluster(f.cluster, f.policy), f.policy)  # type: ignore[arg-type]
    reason = racing.record(ours, decision, now)
    # 1 deleted before + 3 by the other writer + 2 now = 6 of 10: over 0.5, and nothing of ours recorded
    assert reason is not None and "after 4 deleted" in reason
    assert Ledger(f.cluster, f.policy).recent(now) == {"workloads": 4}
