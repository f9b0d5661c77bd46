"""`reconciler freeze`, `freezes`, `unfreeze` and `apply --override-freeze`, as an operator runs them
on the simulated cluster; and freeze windows in reconciler.yaml, refused when they cannot be read."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from reconciler.cli.main import main
from reconciler.config import ConfigError, parse_config
from tests.conftest import deployments_json, write_tree

SHA1, SHA2 = "1" * 40, "2" * 40


def soa(root: Path, sha: str) -> None:
    write_tree(root, {"web/service.yaml": "description: web\n",
                      "web/kubernetes-local.yaml": "main: {instances: 1, deploy_group: prod}\n",
                      "web/deployments.json": deployments_json("web", {"prod": sha})})


def out(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_freeze_holds_an_apply_until_overridden_or_unfrozen(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "soa"
    soa(root, SHA1)
    config = tmp_path / "reconciler.yaml"
    config.write_text(f"soa_configs: {{path: {root}}}\nclusters:\n  local: {{sim: {{state: {tmp_path / 'local.sqlite'}, "
                      f"pod_ready_seconds: 0.1}}}}\nstate_dir: {tmp_path / 'state'}\n")
    c = str(config)
    assert out(capsys, "apply", "--config", c)[0] == 0
    deadline = time.monotonic() + 30
    while out(capsys, "drift", "--config", c)[0] != 0:  # the first rollout completes
        assert time.monotonic() < deadline
        time.sleep(0.2)
    code, text, _ = out(capsys, "freeze", "--config", c, "--for", "1h", "--name", "release-week", "--reason", "QA")
    assert code == 0 and "frozen: Frozen (release-week until " in text
    code, text, _ = out(capsys, "freezes", "--config", c, "-o", "json")
    [listed] = json.loads(text)["freezes"]["local"]
    assert listed["name"] == "release-week" and listed["reason"] == "QA" and listed["source"] == "ad-hoc"

    soa(root, SHA2)
    code, text, _ = out(capsys, "apply", "--config", c, "-o", "json")
    doc = json.loads(text)
    [held] = [a for a in doc["actions"] if a["kind"] == "Deployment"]
    assert held["action"] == "wait" and held["reason"].startswith("Frozen (release-week until ")
    code, text, _ = out(capsys, "drift", "--config", c, "-o", "json")
    assert [r["status"] for r in json.loads(text)["instances"]] == ["Frozen"]

    code, text, err = out(capsys, "apply", "--config", c, "--override-freeze", "-o", "json")
    doc = json.loads(text)
    assert code == 0 and doc["freeze_overridden"] is True
    assert [a["action"] for a in doc["actions"] if a["kind"] == "Deployment"] == ["update"]
    assert "freeze overridden for this run (release-week)" in err

    code, text, _ = out(capsys, "unfreeze", "--config", c, "--all")
    assert code == 0 and "local: cleared release-week" in text
    assert out(capsys, "freezes", "--config", c)[1].strip() == "no freeze in force"
    code, text, _ = out(capsys, "freeze", "--config", c, "--until", "2001-01-01T00:00:00Z")
    assert code == 2  # in the past


@pytest.mark.parametrize(("freezes", "message"), [
    ("[{name: w, schedule: '0 18 * * 9', duration: 2h}]", "freezes[0].schedule"),
    ("[{name: w, schedule: '0 18 * * 5', duration: 2h, clusters: [nope]}]", "no cluster 'nope'"),
    ("[{name: w, schedule: '0 18 * * 5', duration: 2h, allow: [everything]}]", "freezes[0].allow[0]"),
    ("[{name: w, schedule: '0 18 * * 5', duration: 2h}, {name: w, schedule: '0 1 * * *', duration: 1h}]",
     "used twice"),
])
def test_bad_freeze_windows_are_refused_with_the_key(freezes: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_config(f"clusters: {{a: {{in_cluster: true}}}}\nfreezes: {freezes}\n".encode())


def test_freeze_windows_promotion_and_time_zone_are_typed() -> None:
    config = parse_config(b"clusters: {a: {in_cluster: true}, b: {in_cluster: true}}\ntime_zone: Europe/Berlin\n"
                          b"promotion: {lease_cluster: b}\n"
                          b"freezes: [{name: weekend, schedule: '0 18 * * 5', duration: 62h, allow: [stop]}]\n")
    assert config.promotion.enabled and config.promotion_lease_cluster == "b"
    [window] = config.freezes
    assert window.duration == 62 * 3600 and window.allow == frozenset({"stop"}) and window.clusters is None
    assert str(config.zone) == "Europe/Berlin"
    assert parse_config(b"clusters: {a: {in_cluster: true}}\npromotion: true\n").promotion_lease_cluster == "a"
    with pytest.raises(ConfigError, match="unknown time zone"):
        parse_config(b"clusters: {a: {in_cluster: true}}\ntime_zone: Mars/Olympus\n")
