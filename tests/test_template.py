"""The bundled soa-configs-template/ stays clean, renders every example instance on cluster
`local` (the embedded default of `reconciler run`), shows the features it is there to show, and
its reconciler.yaml.example validates."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.cli.main import main
from tests.conftest import REPO

TEMPLATE = REPO / "soa-configs-template"
EXAMPLE_CONFIG = TEMPLATE / "reconciler.yaml.example"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def services() -> list[str]:
    return sorted(p.name for p in TEMPLATE.iterdir() if p.is_dir() and not p.name.startswith("."))


def local_instances() -> set[tuple[str, str]]:
    """(service, instance) of every instance the template defines on cluster `local`."""
    found = set()
    for service in services():
        doc = yaml.safe_load((TEMPLATE / service / "kubernetes-local.yaml").read_text()) or {}
        found |= {(service, name) for name in doc if not name.startswith("_")}
    return found


@pytest.fixture(scope="module")
def rendered() -> dict[tuple[str, str], dict[str, Any]]:
    """`render --soa-dir soa-configs-template --cluster local --all -o jsonl`, by instance."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["render", "--soa-dir", str(TEMPLATE), "--cluster", "local", "--all", "-o", "jsonl"])
    assert code == 0, err.getvalue()
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    assert all("error" not in line for line in lines), lines
    return {(line["service"], line["instance"]): line for line in lines}


def objects(line: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [o for o in line["objects"] if o["kind"] == kind]


def test_template_validates_clean(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "validate", "--soa-dir", str(TEMPLATE))
    assert code == 0, out + err
    assert out.strip().endswith("0 errors, 0 warnings"), out


def test_example_config_validates(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "validate", "--config", str(EXAMPLE_CONFIG))
    assert code == 0, out + err
    assert out.strip().endswith(": ok"), out


def test_example_config_shows_a_simulated_and_a_real_cluster() -> None:
    from reconciler.config import load_config

    config = load_config(EXAMPLE_CONFIG)
    kinds = {name: ("sim" if c.sim_state else "kubeconfig" if c.kubeconfig else "in_cluster")
             for name, c in config.clusters.items()}
    assert sorted(kinds.values()) == ["kubeconfig", "sim"], kinds
    assert config.soa_configs is not None and config.soa_configs.repo and config.soa_configs.webhook_secret_env
    assert config.service_repos is not None and config.notify_url_env


def test_every_local_instance_renders(rendered: dict[tuple[str, str], dict[str, Any]]) -> None:
    wanted = local_instances()
    assert set(rendered) == wanted  # every instance on `local` is deployed (none left out)
    assert {service for service, _ in rendered} == set(services())
    assert len(wanted) <= 8  # the embedded default stays small


def test_replicas_stay_small(rendered: dict[tuple[str, str], dict[str, Any]]) -> None:
    for ident, line in rendered.items():
        for workload in objects(line, "Deployment") + objects(line, "StatefulSet"):
            assert workload["spec"].get("replicas", 0) <= 3, ident
        for hpa in objects(line, "HorizontalPodAutoscaler"):
            assert hpa["spec"]["maxReplicas"] <= 3, ident


def test_autoscaled_instance_renders_an_hpa(rendered: dict[tuple[str, str], dict[str, Any]]) -> None:
    autoscaled = [line for line in rendered.values() if objects(line, "HorizontalPodAutoscaler")]
    assert autoscaled, "no autoscaled instance in the template"
    for line in autoscaled:
        (hpa,) = objects(line, "HorizontalPodAutoscaler")
        (workload,) = objects(line, "Deployment") + objects(line, "StatefulSet")
        assert "replicas" not in workload["spec"]  # the HPA owns them
        assert hpa["spec"]["scaleTargetRef"]["name"] == workload["metadata"]["name"]
        assert any(m["resource"]["name"] == "cpu" for m in hpa["spec"]["metrics"])


def test_stateful_instance_renders_a_statefulset(rendered: dict[tuple[str, str], dict[str, Any]]) -> None:
    stateful = [line for line in rendered.values() if objects(line, "StatefulSet")]
    assert stateful, "no instance with persistent_volumes in the template"
    for line in stateful:
        (sts,) = objects(line, "StatefulSet")
        assert sts["spec"]["volumeClaimTemplates"]
        assert not objects(line, "Deployment")


def test_stopped_instance_renders_zero_replicas(rendered: dict[tuple[str, str], dict[str, Any]]) -> None:
    stopped = []
    for service in services():
        doc = json.loads((TEMPLATE / service / "deployments.json").read_text())
        stopped += [tuple(key.split(":", 1)[1].split(".", 1)) + (service,)
                    for key, control in doc["v2"]["controls"].items() if control["desired_state"] == "stop"]
    assert stopped, "no stopped instance (a `stop` control in deployments.json) in the template"
    for cluster, instance, service in stopped:
        if cluster != "local":
            continue
        line = rendered[(service, instance)]
        (workload,) = objects(line, "Deployment") + objects(line, "StatefulSet")
        assert workload["spec"]["replicas"] == 0
        assert not objects(line, "HorizontalPodAutoscaler")


def test_shows_both_bounce_methods_and_healthchecks(rendered: dict[tuple[str, str], dict[str, Any]]) -> None:
    strategies = set()
    probes = set()
    for line in rendered.values():
        for workload in objects(line, "Deployment"):
            strategies.add(workload["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"])
        for workload in objects(line, "Deployment") + objects(line, "StatefulSet"):
            probe = workload["spec"]["template"]["spec"]["containers"][0].get("readinessProbe") or {}
            probes |= {k for k in ("httpGet", "tcpSocket", "exec") if k in probe}
    assert "100%" in strategies and strategies - {"100%"}  # brutal and crossover
    assert probes == {"httpGet", "tcpSocket", "exec"}


def test_shows_anchors_env_and_auto_rollback() -> None:
    texts = {p: p.read_text() for p in TEMPLATE.glob("*/kubernetes-*.yaml")}
    assert any("<<: *" in text and "&" in text for text in texts.values())
    assert any("env:" in p.read_text() for p in TEMPLATE.glob("*/*.yaml"))
    pipelines = [yaml.safe_load(p.read_text())["pipeline"] for p in TEMPLATE.glob("*/deploy.yaml")]
    assert any(step.get("auto_rollback") is True for pipeline in pipelines for step in pipeline)


@pytest.fixture
def trial_config(tmp_path: Path) -> Iterator[Path]:
    """A reconciler.yaml with the template as a `path:` source on a fresh simulated cluster."""
    config = tmp_path / "reconciler.yaml"
    quoted = {name: json.dumps(str(path)) for name, path in
              (("soa", TEMPLATE), ("sim", tmp_path / "local.sqlite"), ("state", tmp_path / "state"))}
    config.write_text(f"soa_configs: {{path: {quoted['soa']}}}\n"
                      f"clusters:\n  local:\n    sim: {{state: {quoted['sim']}, pod_ready_seconds: 0}}\n"
                      f"    prune: true\nstate_dir: {quoted['state']}\n")
    yield config


def test_template_rolls_out_on_the_simulated_cluster(trial_config: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "apply", "--config", str(trial_config), "-o", "json")
    assert code == 0, out + err
    first = json.loads(out)
    assert first["summary"]["create"] > 0 and first["summary"]["wait"] == 0
    deadline = time.monotonic() + 30
    while True:
        code, out, err = run(capsys, "drift", "--config", str(trial_config), "-o", "json")
        statuses = {(r["service"], r["instance"]): r["status"] for r in json.loads(out)["instances"]}
        if code == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert code == 0, statuses
    assert set(statuses) == local_instances()
    assert "Stopped" in statuses.values()
    code, out, err = run(capsys, "apply", "--config", str(trial_config), "-o", "json")
    assert code == 0 and json.loads(out)["requests"]["writes"] == 0, out + err
