"""`plan --soa-dir CHECKOUT` with a git source: the checkout's config against what the deployments
branch deploys now; a stale or missing deployments.json in the checkout is never read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.cli.main import main
from reconciler.cluster.sim.backend import SimCluster
from tests.conftest import deployments_json, write_tree
from tests.support.gitremote import GitRemote

DEPLOYED, STALE = "d" * 40, "e" * 40


def test_a_pr_checkout_is_planned_with_the_deployments_branch(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "remotes").mkdir()
    remote = GitRemote(tmp_path / "remotes", "soa-configs")
    remote.commit({"web/service.yaml": "description: web\n", "web/kubernetes-local.yaml": "main: {instances: 1}\n"})
    remote.commit({"web/deployments.json": deployments_json("web", {"local.main": DEPLOYED})}, branch="deployments")
    config = tmp_path / "reconciler.yaml"
    config.write_text(f"""
soa_configs: {{repo: {remote.url}}}
clusters:
  local:
    sim: {{state: {tmp_path / 'local.sqlite'}}}
state_dir: {tmp_path / 'state'}
""")
    checkout = tmp_path / "pr"
    write_tree(checkout, {"web/service.yaml": "description: web\n",
                          "web/kubernetes-local.yaml": "main: {instances: 3}\nnew: {instances: 1}\n",
                          "web/deployments.json": deployments_json("web", {"local.main": STALE, "local.new": STALE})})
    code = main(["plan", "--config", str(config), "--soa-dir", str(checkout), "-o", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    workloads = [a for a in doc["actions"] if a["kind"] == "Deployment"]
    assert [(a["action"], a["instance"]) for a in workloads] == [("create", "main")]
    assert [(n["service"], n["instance"]) for n in doc["not_deployed"]] == [("web", "new")]
    assert main(["apply", "--config", str(config), "--soa-dir", str(checkout), "-o", "json"]) == 0
    capsys.readouterr()
    cluster = SimCluster("local", tmp_path / "local.sqlite")
    try:
        image = cluster.get("Deployment", "web-main", "paastasvc-web")["spec"]["template"]["spec"]["containers"][0]["image"]
    finally:
        cluster.close()
    assert image.endswith(f"paasta-{DEPLOYED}")  # the branch's sha, never the checkout's
