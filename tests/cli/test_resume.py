"""`reconciler resume`: lifting a halted train by hand, on the simulated cluster, as a user would."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli.main import main
from tests.conftest import write_tree

GOOD, BAD = "a" * 40, "b" * 40


def soa(root: Path, sha: str) -> None:
    image = f"services-web:paasta-{'crashloop-' if sha == BAD else ''}{sha}"
    write_tree(root, {
        "web/service.yaml": "description: web\n",
        "web/kubernetes-local.yaml": "main: {instances: 2, deploy_group: prod}\nside: {instances: 1, deploy_group: prod}\n",
        "web/deploy.yaml": "pipeline:\n- step: prod\n  auto_rollback: true\n",
        "web/deployments.json": json.dumps({"v2": {"deployments": {"prod": {
            "docker_image": image, "git_sha": sha, "image_version": None}}, "controls": {}}}),
    })


@pytest.fixture
def config(tmp_path: Path) -> Path:
    soa(tmp_path / "soa", GOOD)
    path = tmp_path / "reconciler.yaml"
    path.write_text(f"""
soa_configs: {{path: {tmp_path / 'soa'}}}
clusters:
  local:
    sim: {{state: {tmp_path / 'local.sqlite'}, pod_ready_seconds: 0.1}}
    rollout: {{max_concurrent_bounces: 1}}
state_dir: {tmp_path / 'state'}
""")
    return path


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main(list(argv))
    out = capsys.readouterr().out
    return code, json.loads(out) if "-o" in argv else out


def apply_until(capsys: pytest.CaptureFixture[str], config: Path, done: Any, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        _, doc = cli(capsys, "apply", "--config", str(config), "-o", "json")
        if done(doc):
            return doc
        assert time.monotonic() < deadline, doc
        time.sleep(0.2)


def by_name(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(a for a in doc["actions"] if a["name"] == name and a["kind"] == "Deployment")


def test_resume_rolls_forward_once_and_a_new_failure_halts_again(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    apply_until(capsys, config, lambda d: all(a["action"] == "noop" for a in d["actions"]))
    code, out = cli(capsys, "resume", "web.main", "--cluster", "local", "--config", str(config))
    assert code == 1 and "no halted rollout to resume" in out

    soa(config.parent / "soa", BAD)
    halted = apply_until(capsys, config, lambda d: d["halted_trains"])
    (train,) = halted["halted_trains"]
    assert train["deploy_group"] == "prod" and train["rolled_back_to"]
    assert by_name(halted, "web-side")["action"] == "wait"
    rolled = apply_until(capsys, config, lambda d: by_name(d, "web-main")["action"] == "wait"
                         and "rolled back to" in by_name(d, "web-main")["reason"])
    assert rolled["requests"]["writes"] == 0
    code, out = cli(capsys, "plan", "--config", str(config))
    assert code == 1 and "train halted: deploy group prod (web.main)" in out

    code, doc = cli(capsys, "resume", "web.main", "--cluster", "local", "--config", str(config), "-o", "json")
    assert code == 0
    assert doc["resumed"] == [{"kind": "Deployment", "namespace": "paastasvc-web", "name": "web-main",
                               "failed_config_sha": train["failed_config_sha"], "rolled_back": True}]
    _, again = cli(capsys, "apply", "--config", str(config), "-o", "json")
    assert not again["halted_trains"] and by_name(again, "web-main")["action"] == "update"
    # the retried version crash-loops again: this later failure halts the train again
    halted_again = apply_until(capsys, config, lambda d: d["halted_trains"])
    assert halted_again["halted_trains"][0]["failed_config_sha"] == train["failed_config_sha"]


def test_resume_usage_errors(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["resume", "web", "--cluster", "local", "--config", str(config)]) == 2
    assert main(["resume", "web.main", "--cluster", "nope", "--config", str(config)]) == 2
    assert "no such cluster" in capsys.readouterr().err
