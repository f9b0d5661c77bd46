"""The CLI's loop over clusters: one cycle each, in order; a cluster that cannot be reached or
that refuses never stops the others; the settings of each cluster become its policy."""

from __future__ import annotations

from pathlib import Path

from reconciler.cluster.protocol import Cluster
from reconciler.config import ClusterConfig, Config, RolloutBudget
from reconciler.engine.policy import Budget, Policy
from reconciler.reconcile.cycle import CycleResult, Mode, policy_for
from reconciler.reconcile.each import reconcile_each
from reconciler.reconcile.revision import Revision
from reconciler.render.settings import RenderSettings
from reconciler.sources.directory import DirectoryTree
from tests.conftest import write_tree
from tests.support.gitremote import service_files


def test_every_cluster_setting_reaches_the_policy() -> None:
    settings = ClusterConfig("c1", prune=True, max_prune_fraction=0.25, heal_drift=False, allow_recreate=True,
                             ignore_differences={"Deployment": ("/spec/x",)},
                             rollout=RolloutBudget(3, 0.5, 7, 120))
    assert policy_for(settings, "example.com") == Policy(
        "c1", "example.com", prune=True, max_prune_fraction=0.25, allow_recreate=True, heal_drift=False,
        ignore={"Deployment": ("/spec/x",)}, budget=Budget(3, 0.5, 7), progress_deadline_seconds=120)


def test_one_cycle_per_cluster_and_failures_stay_with_their_cluster(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "soa", {**service_files("alpha", {"one": ["main"], "two": ["main"]})})
    config = Config(clusters={
        "one": ClusterConfig("one", sim_state=str(tmp_path / "one.sqlite")),
        "gone": ClusterConfig("gone", kubeconfig=str(tmp_path / "no-kubeconfig")),
        "held": ClusterConfig("held", sim_state=str(tmp_path / "held.sqlite")),
        "two": ClusterConfig("two", sim_state=str(tmp_path / "two.sqlite")),
    })
    names = ["one", "gone", "held", "two"]
    revision = Revision.of(DirectoryTree(root), names, lambda c: RenderSettings(cluster=c))
    seen: list[str] = []

    def refuse(name: str, cluster: Cluster) -> str | None:
        return "somebody else holds it" if name == "held" else None

    def then(name: str, cluster: Cluster, result: CycleResult) -> int:
        seen.append(name)
        return len(cluster.list("Deployment"))

    runs = reconcile_each(config, names, revision, Mode(apply=True), refuse=refuse, then=then)
    assert [r.name for r in runs] == names
    one, gone, held, two = runs
    assert gone.result is None and "cannot load kubeconfig" in (gone.error or "")
    assert held.result is None and held.error == "somebody else holds it"
    assert seen == ["one", "two"]
    for run in (one, two):
        assert run.error is None and run.result is not None and run.extra == 1
        assert run.result.cluster == run.name
        assert {(a.action, a.kind) for a in run.result.plan.actions} == {
            ("create", "Namespace"), ("create", "Deployment"), ("create", "PodDisruptionBudget")}
        assert not run.result.failed
