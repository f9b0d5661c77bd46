"""Right after `reconciler run` on the embedded default, every read command works without a
config: plan, apply, drift, status, wait and sim read the same template and simulated cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.cli.main import main


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))  # the embedded default's state lives there
    return tmp_path


def out(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_every_read_command_works_without_a_config(state_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = out(capsys, "plan", "-o", "json")
    assert code == 1 and json.loads(text)["cluster"] == "local"
    assert out(capsys, "apply", "-o", "json")[0] == 0
    assert (state_home / "reconciler" / "local.sqlite").exists()
    code, text = out(capsys, "drift", "-o", "json")
    services = {r["service"] for r in json.loads(text)["instances"]}
    assert code in (0, 1) and {"hello_world", "web_api"} <= services
    code, text = out(capsys, "status", "hello_world", "-o", "json")
    assert code in (0, 1) and json.loads(text)["service"] == "hello_world"
    assert out(capsys, "wait", "hello_world", "--timeout", "60s", "--interval", "0.5s")[0] == 0
    code, text = out(capsys, "sim", "list", "deploy", "-o", "json")
    assert code == 0 and any(o["metadata"]["name"].startswith("hello--world") for o in json.loads(text))
    code = main(["drift", "--cluster", "nosuch"])
    assert code == 2 and "the embedded default" in capsys.readouterr().err
