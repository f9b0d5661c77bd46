"""mark-for-deployment, start/stop/restart and generate-deployments, end to end with bare repos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import git
import pytest

from reconciler.cli.main import main
from reconciler.sources.tags import parse_control_tag, parse_deploy_tag
from tests.support.gitremote import GitRemote

SOA = {
    "alpha/deploy.yaml": "pipeline: [{step: canary}, {step: prod}]\n",
    "alpha/kubernetes-c1.yaml": "main: {deploy_group: prod}\ncanary: {deploy_group: canary}\n",
    "alpha/kubernetes-c2.yaml": "main: {deploy_group: prod}\n",
    "beta/kubernetes-c1.yaml": "main: {}\nbroken: {cpus: lots}\n",
}


class Setup:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        (tmp / "services").mkdir()
        self.alpha = GitRemote(tmp / "services", "alpha")
        self.beta = GitRemote(tmp / "services", "beta")
        self.a1 = self.alpha.commit(message="one")
        self.a2 = self.alpha.commit(message="two")
        self.b1 = self.beta.commit()
        self.soa = GitRemote(tmp, "soa-configs")
        self.soa.commit(SOA)
        self.config = self.write_config({"repo": self.soa.url})

    def write_config(self, soa_configs: dict[str, str], name: str = "reconciler.yaml") -> str:
        path = self.tmp / name
        path.write_text(json.dumps({
            "soa_configs": soa_configs,
            "service_repos": {"url_template": (self.tmp / "services").as_uri() + "/{service}.git",
                              "parallelism": 2},
            "clusters": {"c1": {"sim": {"state": str(self.tmp / "c1.sqlite")}}},
            "state_dir": str(self.tmp / "state"),
        }))
        return str(path)

    def tags(self, remote: GitRemote) -> dict[str, str]:
        repo = git.Repo(remote.bare)
        return {t.name: str(t.commit.hexsha) for t in repo.tags}

    def doc(self, service: str) -> Any:
        return json.loads(git.Repo(self.soa.bare).git.show(f"deployments:{service}/deployments.json"))


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def as_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code, out, err = run(capsys, *argv, "-o", "json")
    assert out, err
    return code, json.loads(out)


def test_deploy_stop_restart_and_redeploy(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = setup.config
    code, marked = as_json(capsys, "mark-for-deployment", "--service", "alpha", "--deploy-group", "prod",
                           "--commit", setup.a1[:10], "--config", cfg)
    assert code == 0 and marked["commit"] == setup.a1
    assert setup.tags(setup.alpha) == {marked["tag"]: setup.a1}
    assert parse_deploy_tag(marked["tag"]) is not None

    code, result = as_json(capsys, "generate-deployments", "--config", cfg)
    assert code == 0 and result["commit"] and [c["service"] for c in result["changed"]] == ["alpha"]
    assert result["soa_configs_commit"] == setup.soa.tip("main")
    assert setup.doc("alpha")["v2"]["deployments"]["prod"]["git_sha"] == setup.a1

    code, stopped = as_json(capsys, "stop", "alpha.main", "--cluster", "c1", "--config", cfg)
    assert code == 0 and stopped["commit"] == setup.a1 and stopped["deploy_group"] == "prod"
    assert parse_control_tag(stopped["tag"]) is not None
    assert setup.tags(setup.alpha)[stopped["tag"]] == setup.a1
    assert run(capsys, "generate-deployments", "--config", cfg)[0] == 0
    assert setup.doc("alpha")["v2"]["controls"]["alpha:c1.main"] == {"desired_state": "stop", "force_bounce": None}
    assert setup.doc("alpha")["v2"]["controls"]["alpha:c2.main"]["desired_state"] == "start"

    code, restarted = as_json(capsys, "restart", "alpha.main", "--cluster", "c1", "--config", cfg)
    assert code == 0 and restarted["desired_state"] == "start" and restarted["force_bounce"]
    assert run(capsys, "generate-deployments", "--config", cfg)[0] == 0
    assert setup.doc("alpha")["v2"]["controls"]["alpha:c1.main"] == \
        {"desired_state": "start", "force_bounce": restarted["force_bounce"]}

    code, out, _ = run(capsys, "stop", "alpha.main", "--cluster", "c1", "--config", cfg)
    assert code == 0 and "pushed tag paasta-c1.main-" in out
    code, out, _ = run(capsys, "mark-for-deployment", "--service", "alpha", "--deploy-group", "prod",
                       "--commit", setup.a2, "--config", cfg)
    assert code == 0 and f"marked {setup.a2[:12]}" in out
    code, out, _ = run(capsys, "generate-deployments", "--config", cfg)
    assert code == 0 and "committed" in out and f"prod: {setup.a2[:8]} (was {setup.a1[:8]})" in out
    assert setup.doc("alpha")["v2"]["controls"]["alpha:c1.main"] == {"desired_state": "start", "force_bounce": None}

    code, out, _ = run(capsys, "generate-deployments", "--config", cfg)
    assert code == 0 and "nothing to commit: deployments at" in out
    history = list(git.Repo(setup.soa.bare).iter_commits("deployments"))
    assert len(history) == 4 and all(len(c.parents) <= 1 for c in history)


def test_image_version(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    code, marked = as_json(capsys, "mark-for-deployment", "--service", "alpha", "--deploy-group", "canary",
                           "--commit", setup.a2, "--image-version", "build.7", "--config", setup.config)
    assert code == 0 and "+build.7-" in marked["tag"]
    assert run(capsys, "generate-deployments", "--config", setup.config, "--service", "alpha")[0] == 0
    assert setup.doc("alpha")["v2"]["deployments"]["canary"] == {
        "docker_image": f"services-alpha:paasta-{setup.a2}-build.7", "git_sha": setup.a2,
        "image_version": "build.7"}


def test_two_marks_in_one_second_get_two_tags(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ("mark-for-deployment", "--service", "alpha", "--deploy-group", "prod", "--config", setup.config)
    first = as_json(capsys, *argv, "--commit", setup.a1)[1]["tag"]
    second = as_json(capsys, *argv, "--commit", setup.a2)[1]["tag"]
    assert first != second and setup.tags(setup.alpha) == {first: setup.a1, second: setup.a2}


def test_a_quick_second_command_still_wins(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ("mark-for-deployment", "--service", "alpha", "--deploy-group", "prod", "--config", setup.config)
    first = as_json(capsys, *argv, "--commit", setup.a1, "--image-version", "zzz")[1]["tag"]
    second = as_json(capsys, *argv, "--commit", setup.a2, "--image-version", "aaa")[1]["tag"]
    stop = as_json(capsys, "stop", "alpha.main", "--cluster", "c1", "--config", setup.config)[1]["tag"]
    start = as_json(capsys, "start", "alpha.main", "--cluster", "c1", "--config", setup.config)[1]["tag"]
    stamps = [parse_deploy_tag(first), parse_deploy_tag(second), parse_control_tag(stop), parse_control_tag(start)]
    assert stamps[0] and stamps[1] and stamps[0].timestamp < stamps[1].timestamp
    assert stamps[2] and stamps[3] and stamps[2].timestamp < stamps[3].timestamp
    assert run(capsys, "generate-deployments", "--config", setup.config)[0] == 0
    assert setup.doc("alpha")["v2"]["deployments"]["prod"]["image_version"] == "aaa"
    assert setup.doc("alpha")["v2"]["controls"]["alpha:c1.main"]["desired_state"] == "start"


def test_mark_refuses_unknown_commits(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ("mark-for-deployment", "--service", "alpha", "--deploy-group", "prod", "--config", setup.config)
    code, _, err = run(capsys, *argv, "--commit", "f" * 40)
    assert code == 2 and f"commit {'f' * 40} is not in" in err and "alpha.git" in err
    code, _, err = run(capsys, *argv, "--commit", "main")
    assert code == 2 and "expected a commit sha" in err
    code, _, err = run(capsys, *argv, "--commit", setup.a1, "--image-version", "a/b")
    assert code == 2 and "--image-version" in err
    assert setup.tags(setup.alpha) == {}


def test_mark_checks_the_service_and_warns_about_unknown_groups(
        setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "mark-for-deployment", "--service", "nope", "--deploy-group", "prod",
                       "--commit", setup.a1, "--config", setup.config)
    assert code == 2 and "no such service in soa-configs: nope" in err
    code, _, err = run(capsys, "mark-for-deployment", "--service", "alpha", "--deploy-group", "prdo",
                       "--commit", setup.a1, "--config", setup.config)
    assert code == 0 and "warning: deploy group 'prdo' is not used" in err and "canary, prod" in err


def test_control_errors(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = setup.config
    code, _, err = run(capsys, "stop", "alpha.main", "--cluster", "c1", "--config", cfg)
    assert code == 2 and "has never been deployed" in err and "'prod'" in err
    code, _, err = run(capsys, "stop", "alpha.nope", "--cluster", "c1", "--config", cfg)
    assert code == 2 and "no instance 'nope' on cluster 'c1'" in err
    code, _, err = run(capsys, "start", "beta.broken", "--cluster", "c1", "--config", cfg)
    assert code == 2 and "config errors" in err and "cpus" in err
    code, _, err = run(capsys, "restart", "alpha", "--cluster", "c1", "--config", cfg)
    assert code == 2 and "expected SERVICE.INSTANCE" in err
    assert setup.tags(setup.alpha) == {}


def test_control_with_a_soa_configs_directory(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    soa_dir = setup.tmp / "soa-dir"
    for rel, content in SOA.items():
        (soa_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (soa_dir / rel).write_text(content)
    cfg = setup.write_config({"path": str(soa_dir)}, "by-path.yaml")
    setup.alpha.tag("paasta-prod-20240101T000000-deploy", setup.a1)
    code, stopped = as_json(capsys, "stop", "alpha.main", "--cluster", "c2", "--config", cfg)
    assert code == 0 and stopped["commit"] == setup.a1
    code, _, err = run(capsys, "generate-deployments", "--config", cfg)
    assert code == 2 and "needs soa_configs.repo" in err


def test_generate_reports_unreadable_repositories(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    setup.alpha.tag("paasta-prod-20240101T000000-deploy", setup.a1)
    setup.beta.tag("paasta-c1.main-20240101T000000-deploy", setup.b1)
    assert run(capsys, "generate-deployments", "--config", setup.config)[0] == 0
    before = setup.doc("beta")
    setup.beta.move_away()
    setup.alpha.tag("paasta-prod-20240102T000000-deploy", setup.a2)
    code, out, err = run(capsys, "generate-deployments", "--config", setup.config)
    assert code == 1 and "alpha" in out and "beta: cannot list tags" in err and "left unchanged" in err
    assert "warning: beta: soa-configs have errors" in err
    assert setup.doc("beta") == before


def test_generate_usage_errors(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "generate-deployments", "--config", setup.config, "--service", "nope")
    assert code == 2 and "no such service in soa-configs" in err
    setup.soa.move_away()
    code, _, err = run(capsys, "generate-deployments", "--config", setup.config)
    assert code == 2 and "soa-configs.git" in err


def test_history_and_rollback_by_a_deploy_tag(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = setup.config
    for sha in (setup.a1, setup.a2):
        assert run(capsys, "mark-for-deployment", "--service", "alpha", "--deploy-group", "prod",
                   "--commit", sha, "--config", cfg)[0] == 0
    assert run(capsys, "mark-for-deployment", "--service", "alpha", "--deploy-group", "canary",
               "--commit", setup.a2, "--config", cfg)[0] == 0
    code, doc = as_json(capsys, "history", "alpha", "--config", cfg)
    assert code == 0
    prod = [d for d in doc["deploys"] if d["deploy_group"] == "prod"]
    assert [d["sha"] for d in prod] == [setup.a2, setup.a1]  # newest first
    assert all(d["author"] and d["tag"].endswith("-deploy") for d in prod)
    code, out, _ = run(capsys, "history", "alpha", "--deploy-group", "prod", "--config", cfg)
    lines = out.splitlines()
    assert code == 0 and "current" in lines[1] and setup.a2[:12] in lines[1] and setup.a1[:12] in lines[2]
    assert "canary" not in out

    code, back = as_json(capsys, "rollback", "alpha", "--deploy-group", "prod", "--config", cfg)
    assert code == 0 and back["from"] == setup.a2 and back["to"] == setup.a1
    assert setup.tags(setup.alpha)[back["tag"]] == setup.a1
    assert run(capsys, "generate-deployments", "--config", cfg)[0] == 0
    assert setup.doc("alpha")["v2"]["deployments"]["prod"]["git_sha"] == setup.a1  # git says so: no auto-sync undoes it
    code, again = as_json(capsys, "rollback", "alpha", "--deploy-group", "prod", "--to", setup.a2[:10], "--config", cfg)
    assert code == 0 and again["to"] == setup.a2
    code, _, err = run(capsys, "rollback", "alpha", "--deploy-group", "prod", "--to", setup.a2, "--config", cfg)
    assert code == 2 and "already runs" in err
    code, _, err = run(capsys, "rollback", "beta", "--deploy-group", "c1.main", "--config", cfg)
    assert code == 2 and "never been deployed" in err
