"""`reconciler validate` and `reconciler render` as reconciler.md §7 describes them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from reconciler.cli.main import main
from tests.conftest import REPO, SHA, deployments_json

TREE = {
    "web/service.yaml": "description: web\n",
    "web/deploy.yaml": "pipeline:\n- step: c1.main\n- step: c1.api\n- step: c2.main\n",
    "web/kubernetes-c1.yaml": "main: {cpus: 1}\napi: {cpus: 2, max_instances: 4}\nlater: {}\n",
    "web/kubernetes-c2.yaml": "main: {cpus: 0.5}\n",
    "web/deployments.json": deployments_json("web", {"c1.main": SHA, "c1.api": SHA, "c2.main": SHA}),
    "db/kubernetes-c1.yaml": "main: {persistent_volumes: [{container_path: /data, size: 5}]}\n",
    "db/deployments.json": deployments_json("db", {"c1.main": SHA}),
}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def root(tree) -> Path:  # type: ignore[no-untyped-def]
    return tree(TREE)


def test_render_all_jsonl_one_line_per_instance_not_deployed_left_out(root: Path, capsys) -> None:
    code, out, _ = run(capsys, "render", "--soa-dir", str(root), "--cluster", "c1", "--all", "-o", "jsonl")
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert sorted((r["service"], r["instance"], r["cluster"]) for r in records) == [
        ("db", "main", "c1"), ("web", "api", "c1"), ("web", "main", "c1")]
    assert all(set(r) == {"service", "instance", "cluster", "objects"} for r in records)


def test_render_without_cluster_covers_every_cluster(root: Path, capsys) -> None:
    _, out, _ = run(capsys, "render", "--soa-dir", str(root), "--all", "-o", "jsonl")
    assert {json.loads(line)["cluster"] for line in out.splitlines()} == {"c1", "c2"}


def test_render_docker_registry(root: Path, capsys) -> None:
    _, out, _ = run(capsys, "render", "--soa-dir", str(root), "--cluster", "c2", "--all", "-o", "jsonl",
                    "--docker-registry", "registry.example.com")
    work = json.loads(out)["objects"][1]
    assert work["spec"]["template"]["spec"]["containers"][0]["image"] == \
        f"registry.example.com/services-web:paasta-{SHA}"


def test_render_service_instance_yaml(root: Path, capsys) -> None:
    code, out, err = run(capsys, "render", "--soa-dir", str(root), "--cluster", "c1", "web.main")
    assert code == 0
    docs = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in docs] == ["Namespace", "Deployment", "PodDisruptionBudget"]
    assert docs[1]["metadata"]["name"] == "web-main"


def test_render_service_json_is_a_list_with_one_namespace(root: Path, capsys) -> None:
    code, out, _ = run(capsys, "render", "--soa-dir", str(root), "--cluster", "c1", "web", "-o", "json")
    doc = json.loads(out)
    assert doc["kind"] == "List"
    kinds = [i["kind"] for i in doc["items"]]
    assert kinds.count("Namespace") == 1 and kinds.count("Deployment") == 2
    assert "HorizontalPodAutoscaler" in kinds


def test_render_not_deployed_instance_says_so(root: Path, capsys) -> None:
    code, out, err = run(capsys, "render", "--soa-dir", str(root), "--cluster", "c1", "web.later")
    assert code == 0 and out.strip() in ("", "[]")
    assert "web.later on c1: not deployed yet" in err


def test_render_with_config_takes_cluster_settings(root: Path, tmp_path: Path, capsys) -> None:
    config = tmp_path / "reconciler.yaml"
    config.write_text(f"""
soa_configs: {{path: {root}}}
label_domain: example.com
clusters:
  c1:
    sim: {{state: {tmp_path}/c1.sqlite}}
    docker_registry: reg.example.net
    pdb_max_unavailable: "10%"
    pool_node_label: node.example.com/pool
    rollout: {{progress_deadline_seconds: 90}}
""")
    code, out, _ = run(capsys, "render", "--config", str(config), "--all", "-o", "jsonl")
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert {r["cluster"] for r in records} == {"c1"}  # only the config's clusters
    objs = {o["kind"]: o for o in [r for r in records if r["service"] == "web" and r["instance"] == "main"][0]["objects"]}
    work = objs["Deployment"]
    assert work["spec"]["template"]["spec"]["containers"][0]["image"].startswith("reg.example.net/")
    assert work["spec"]["progressDeadlineSeconds"] == 90
    assert work["spec"]["template"]["spec"]["nodeSelector"] == {"node.example.com/pool": "default"}
    assert objs["PodDisruptionBudget"]["spec"]["maxUnavailable"] == "10%"
    assert "example.com/service" in work["metadata"]["labels"]


@pytest.mark.parametrize("argv, needle", [
    (["render", "--all", "web"], "not both"),
    (["render"], "needs --all"),
    (["render", "nosuch"], "no such service"),
    (["render", "web.nosuch"], "no instance web.nosuch"),
    (["validate", "nosuch"], "no such service"),
])
def test_usage_errors_exit_2(root: Path, capsys, argv: list[str], needle: str) -> None:
    code, _, err = run(capsys, *argv, "--soa-dir", str(root))
    assert code == 2 and needle in err


def test_argparse_usage_error_exits_2(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["render", "--output", "xml"])
    assert exc.value.code == 2


def test_validate_clean_tree_exits_0(root: Path, capsys) -> None:
    code, out, _ = run(capsys, "validate", "--soa-dir", str(root))
    assert code == 0
    # `later: {}` is empty, and its deploy group is not in deploy.yaml
    assert "2 services, 5 instances: 0 errors, 2 warnings" in out


def test_validate_json_output(root: Path, capsys) -> None:
    code, out, _ = run(capsys, "validate", "--soa-dir", str(root), "-o", "json", "web")
    doc = json.loads(out)
    assert doc["summary"]["errors"] == 0 and doc["summary"]["services"] == 1
    assert doc["issues"][0]["severity"] == "warning" and doc["issues"][0]["instance"] == "later"


def test_validate_config_alone(tmp_path: Path, capsys) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("clusters:\n  local:\n    sim: {state: /tmp/x.sqlite}\n")
    code, out, _ = run(capsys, "validate", "--config", str(good))
    assert code == 0 and "ok" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("clusters:\n  local: {kubeconfig: x, sim: {state: y}, prnue: true}\nlisten: nope\n")
    code, _, err = run(capsys, "validate", "--config", str(bad))
    assert code == 2
    assert "clusters.local.prnue: unknown key" in err and "listen" in err
    assert "set exactly one of kubeconfig" in err


def test_console_script_runs_from_a_process(root: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "reconciler", "render", "--soa-dir", str(root),
                           "--cluster", "c2", "--all", "-o", "jsonl"], capture_output=True, text=True,
                          cwd=REPO, timeout=60)
    assert proc.returncode == 0 and json.loads(proc.stdout)["instance"] == "main"


def test_bundled_template_validates_clean(capsys) -> None:
    code, out, _ = run(capsys, "validate", "--soa-dir", str(REPO / "soa-configs-template"))
    assert code == 0, out
    assert "0 errors, 0 warnings" in out
    services, instances = (int(x.split()[0]) for x in out.splitlines()[-1].split(":")[0].split(", "))
    assert services >= 1 and instances >= 2


def test_validate_names_each_file_it_does_not_read_once(tmp_path: Path, capsys) -> None:
    (tmp_path / "web" / "secrets").mkdir(parents=True)
    (tmp_path / "web" / "service.yaml").write_text("description: web\n")
    (tmp_path / "web" / "kubernetes-c1.yaml").write_text("main: {}\n")
    (tmp_path / "web" / "kubernetes-c2.yaml").write_text("main: {}\n")
    for name in ("adhoc-c1.yaml", "marathon-c1.yaml", "tron-c1.yaml", "smartstack.yaml", "notes.txt"):
        (tmp_path / "web" / name).write_text("x: {}\n")
    code, out, _ = run(capsys, "validate", "--soa-dir", str(tmp_path), "-o", "json")
    doc = json.loads(out)
    infos = [i for i in doc["issues"] if i["severity"] == "info"]
    assert code == 0 and doc["summary"]["info"] == 6 == len(infos)  # once each, not once per cluster
    assert {i["file"] for i in infos} == {f"web/{n}" for n in ("secrets", "adhoc-c1.yaml", "marathon-c1.yaml",
                                                                "tron-c1.yaml", "smartstack.yaml", "notes.txt")}
    assert all(i["message"].startswith("not read by the reconciler: ") for i in infos)


def test_config_example_is_a_valid_config(tmp_path: Path, capsys) -> None:
    code, out, _ = run(capsys, "config", "example")
    assert code == 0 and out.startswith("# reconciler.yaml")
    path = tmp_path / "reconciler.yaml"
    path.write_text(out)
    code, _, err = run(capsys, "validate", "--config", str(path))
    assert code == 0, err
