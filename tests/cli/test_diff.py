"""`reconciler diff --base/--head`: the PR preview on a real git checkout (soa-configs history plus
a deployments branch) and on two plain trees, with no cluster."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import git
import pytest

from reconciler.cli.main import main
from tests.conftest import SHA, deployments_json

BASE = {
    "web/service.yaml": "description: web\n",
    "web/kubernetes-c1.yaml": "main: {instances: 4}\nold: {instances: 1}\nbad: {instances: 1}\n",
    "api/service.yaml": "description: api\n",
    "api/kubernetes-c1.yaml": "main: {instances: 2}\n",
    "quiet/service.yaml": "description: quiet\n",
    "quiet/kubernetes-c1.yaml": "main: {instances: 1}\n",
}
HEAD = {
    **BASE,
    "web/kubernetes-c1.yaml": ("main: {instances: 4, env: {FEATURE: 'on'}}\nbad: {instances: 1, cpu: 2}\n"
                               "new: {instances: 2}\n"),
    "api/kubernetes-c1.yaml": "main: {instances: 5}\n",
}
DEPLOYED = {f"{s}/deployments.json": deployments_json(s, {f"c1.{i}": SHA for i in instances})
            for s, instances in (("web", ("main", "old", "bad", "new")), ("api", ("main",)), ("quiet", ("main",)))}


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


@pytest.fixture
def checkout(tmp_path: Path) -> tuple[Path, str, str]:
    """A soa-configs checkout: main with the base and the head commits, and a deployments branch."""
    root = tmp_path / "soa"
    repo = git.Repo.init(root, initial_branch="main")
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "t").set_value("user", "email", "t@example.com")
    write(root, BASE)
    repo.git.add("-A")
    repo.git.commit("-qm", "base")
    base = repo.head.commit.hexsha
    repo.git.checkout("-q", "--orphan", "deployments")
    repo.git.rm("-rqf", ".")
    write(root, DEPLOYED)
    repo.git.add("-A")
    repo.git.commit("-qm", "deployments")
    repo.git.checkout("-qf", "main")
    for stray in ("web/deployments.json", "api/deployments.json", "quiet/deployments.json"):
        (root / stray).unlink(missing_ok=True)
    write(root, HEAD)
    repo.git.add("-A")
    repo.git.commit("-qm", "head")
    return root, base, repo.head.commit.hexsha


def diff(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["diff", *argv])
    return code, capsys.readouterr().out


def test_a_pr_preview_classifies_every_instance_and_shows_only_changed_fields(
        checkout: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]) -> None:
    root, base, head = checkout
    code, out = diff(capsys, "--repo", str(root), "--base", base, "--head", head, "-o", "json")
    doc = json.loads(out)
    assert code == 3  # the head breaks web.bad
    changes = {f"{i['service']}.{i['instance']}": i for i in doc["instances"]}
    assert {k: v["change"] for k, v in changes.items()} == {
        "web.main": "bounce", "web.old": "delete", "web.bad": "invalid", "web.new": "create", "api.main": "scale"}
    assert changes["web.main"]["pods"] == 4 and changes["web.main"]["waves"] == 1
    assert changes["api.main"]["pods"] == 3 and "replicas 2 -> 5" in changes["api.main"]["note"]
    assert changes["web.old"]["prune_allowed"] is False  # prune is off by default
    (deployment,) = [o for o in changes["web.main"]["objects"] if o["kind"] == "Deployment"]
    assert "+          value: 'on'" in deployment["diff"] or "+        - name: FEATURE" in deployment["diff"]
    assert "replicas" not in deployment["diff"] and "config_sha" not in deployment["diff"]
    assert doc["summary"] == {"services": 2, "instances": 5, "bounce": 1, "pods_restarted": 4, "scale": 1,
                              "create": 1, "delete": 1, "update": 0, "invalid": 1, "new_errors": 1}
    (new,) = doc["validation"]["new"]
    assert new["instance"] == "bad" and new["key"] == "cpu" and "did you mean 'cpus'" in new["message"]
    assert doc["base"] == base[:12] and doc["head"] == head[:12]


def test_markdown_fits_a_pr_comment_and_table_ends_with_the_summary(
        checkout: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]) -> None:
    root, base, head = checkout
    _, text = diff(capsys, "--repo", str(root), "--base", base, "--head", head, "-o", "markdown")
    assert text.startswith(f"### reconciler diff `{base[:12]}`..`{head[:12]}`")
    assert "**2 services, 5 instances: 1 bounce (4 pods), 1 scale, 1 create, 1 delete, 0 update, 1 new error**" in text
    assert "| c1 | `web.main` | **bounce** | 4 | restarts 4 pods, budget wave 1 |" in text
    assert "<details><summary>web: 4 instance(s)</summary>" in text and "```diff" in text
    assert "**Newly broken**" in text
    _, table = diff(capsys, "--repo", str(root), "--base", base, "--head", head)
    assert table.rstrip().splitlines()[-1].startswith("2 services, 5 instances: 1 bounce (4 pods)")


def test_no_change_exits_0_and_a_change_without_new_errors_exits_1(
        checkout: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]) -> None:
    root, base, head = checkout
    code, out = diff(capsys, "--repo", str(root), "--base", head, "--head", head, "-o", "json")
    assert code == 0 and json.loads(out)["instances"] == []
    code, out = diff(capsys, "--repo", str(root), "--base", head, "--head", base, "-o", "json")
    doc = json.loads(out)
    assert code == 1 and doc["summary"]["new_errors"] == 0
    assert [v["message"] for v in doc["validation"]["fixed"]] and doc["summary"]["delete"] == 1  # web.new goes


def test_budget_waves_follow_the_clusters_max_concurrent_bounces(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    base, head = tmp_path / "base", tmp_path / "head"
    files: dict[str, Any] = {"svc/service.yaml": "description: s\n",
                             "svc/deployments.json": deployments_json("svc", {f"c1.i{n}": SHA for n in range(5)})}
    write(base, {**files, "svc/kubernetes-c1.yaml": "".join(f"i{n}: {{instances: 2}}\n" for n in range(5))})
    write(head, {**files, "svc/kubernetes-c1.yaml": "".join(f"i{n}: {{instances: 2, cpus: 2}}\n" for n in range(5))})
    config = tmp_path / "reconciler.yaml"
    config.write_text(f"clusters:\n  c1:\n    sim: {{state: {tmp_path / 's.sqlite'}}}\n"
                      "    rollout: {max_concurrent_bounces: 2}\n")
    code, out = diff(capsys, "--base-dir", str(base), "--head-dir", str(head), "--config", str(config), "-o", "json")
    doc = json.loads(out)
    assert code == 1 and [i["waves"] for i in doc["instances"]] == [1, 1, 2, 2, 3]
    assert doc["summary"]["pods_restarted"] == 10


def test_usage_errors_exit_2(checkout: tuple[Path, str, str], tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    root, base, _ = checkout
    assert main(["diff", "--repo", str(root), "--base", "nosuchrev"]) == 2
    assert "no revision 'nosuchrev'" in capsys.readouterr().err
    plain = tmp_path / "plain"
    shutil.copytree(root, plain, ignore=shutil.ignore_patterns(".git"))
    assert main(["diff", "--repo", str(plain), "--base", base]) == 2
    assert "not a git checkout" in capsys.readouterr().err
    assert main(["diff", "--base-dir", str(plain)]) == 2


def test_live_diffs_the_head_against_what_the_cluster_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    running, head = tmp_path / "running", tmp_path / "head"
    deployed = {"web/service.yaml": "description: web\n",
                "web/deployments.json": deployments_json("web", {"c1.main": SHA, "c1.side": SHA, "c1.new": SHA})}
    write(running, {**deployed, "web/kubernetes-c1.yaml": "main: {instances: 2}\nside: {instances: 1}\n"})
    write(head, {**deployed, "web/kubernetes-c1.yaml": "main: {instances: 2, cpus: 2}\nnew: {instances: 3}\n"})
    config = tmp_path / "reconciler.yaml"
    config.write_text(f"soa_configs: {{path: {running}}}\nclusters:\n  c1:\n"
                      f"    sim: {{state: {tmp_path / 's.sqlite'}}}\n    prune: true\n    max_prune_fraction: 1.0\n"
                      f"state_dir: {tmp_path / 'state'}\n")
    assert main(["apply", "--config", str(config), "-o", "json"]) == 0
    capsys.readouterr()
    code, out = diff(capsys, "--live", "--head-dir", str(head), "--config", str(config), "-o", "json")
    doc = json.loads(out)
    assert code == 1 and doc["base"] == "live"
    changes = {i["instance"]: i for i in doc["instances"]}
    assert {k: v["change"] for k, v in changes.items()} == {"main": "bounce", "new": "create", "side": "delete"}
    assert changes["side"]["prune_allowed"] is True and changes["main"]["pods"] == 2
    (work,) = [o for o in changes["main"]["objects"] if o["kind"] == "Deployment"]
    assert "resources" in work["diff"] and "cpu" in work["diff"]
    code, out = diff(capsys, "--live", "--config", str(config), "-o", "json")  # the config's own source
    assert code == 0 and json.loads(out)["instances"] == []
