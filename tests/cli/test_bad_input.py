"""Bad input gets a clear error naming file, service and instance; no traceback; nothing lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.cli.main import main
from tests.conftest import REPO, SHA, deployments_json

CLUSTER = "c1"
GOOD = {
    "good/service.yaml": "description: fine\n",
    "good/kubernetes-c1.yaml": "main: {cpus: 1}\n",
    "good/deployments.json": deployments_json("good", {"c1.main": SHA}),
}

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def render_records(capsys: pytest.CaptureFixture[str], root: Path) -> tuple[int, dict[str, dict], str]:
    code, out, err = run(capsys, "render", "--soa-dir", str(root), "--cluster", CLUSTER, "--all", "-o", "jsonl")
    records = {f"{r['service']}.{r['instance']}": r for r in map(json.loads, out.splitlines())}
    return code, records, err


@pytest.mark.parametrize("name, content, needle", [
    ("malformed", "main: {cpus: 1\n", "invalid YAML at line"),
    ("tabs", "main:\n\tcpus: 1\n", "invalid YAML"),
    ("bomb", BOMB, "alias bomb"),
    ("python_tag", "main: !!python/object/apply:os.system ['true']\n", "invalid YAML"),
    ("non_utf8", b"main: {cpus: 1}\nother: {env: {A: \"\xff\xfe\"}}\n", "not valid UTF-8"),
    ("list_top", "- main\n", "must be a mapping at the top level"),
    ("recursive", "a: &a [*a]\n", "recursive"),
])
def test_broken_instance_file_is_reported_and_others_render(
        tree, capsys: pytest.CaptureFixture[str], name: str, content: str | bytes, needle: str) -> None:
    root = tree({**GOOD, f"{name}/kubernetes-c1.yaml": content,
                 f"{name}/deployments.json": deployments_json(name, {"c1.main": SHA})})
    code, records, _ = render_records(capsys, root)
    assert code == 1
    assert "objects" in records["good.main"]
    broken = records[f"{name}.None"]
    assert needle in broken["error"] and f"{name}/kubernetes-c1.yaml" in broken["error"]

    code, out, err = run(capsys, "validate", "--soa-dir", str(root))
    assert code == 1 and "Traceback" not in out + err
    assert f"error: {name}/kubernetes-c1.yaml:" in out and needle in out


def test_empty_file_is_a_warning_not_an_error(tree, capsys: pytest.CaptureFixture[str]) -> None:
    root = tree({**GOOD, "empty/kubernetes-c1.yaml": "", "empty/service.yaml": ""})
    code, out, _ = run(capsys, "validate", "--soa-dir", str(root))
    assert code == 0
    assert "warning: empty/kubernetes-c1.yaml: empty: empty file" in out


def test_symlink_out_of_the_tree_is_refused(tree, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = tmp_path / "outside.yaml"
    secret.write_text("main: {cpus: 1}\n")
    root = tree({**GOOD, "linked/service.yaml": "description: x\n",
                 "linked/deployments.json": deployments_json("linked", {"c1.main": SHA})})
    os.symlink(secret, root / "linked" / "kubernetes-c1.yaml")
    outside_dir = tmp_path / "elsewhere"
    outside_dir.mkdir()
    (outside_dir / "kubernetes-c1.yaml").write_text("main: {}\n")
    os.symlink(outside_dir, root / "escaped")
    code, records, _ = render_records(capsys, root)
    assert "refused: symlink that points outside the tree" in records["linked.None"]["error"]
    assert "refused: symlink that points outside the tree" in records["escaped.None"]["error"]
    code, out, _ = run(capsys, "validate", "--soa-dir", str(root))
    assert "error: escaped/.: escaped: refused: symlink that points outside the tree" in out
    assert code == 1


def test_a_top_level_symlink_loop_is_skipped(tree, capsys: pytest.CaptureFixture[str]) -> None:
    root = tree(GOOD)
    os.symlink(root / "loop", root / "loop")
    code, out, _ = run(capsys, "validate", "--soa-dir", str(root))
    assert code == 0 and "warning: loop: skipped: not a directory" in out


def test_symlink_inside_the_tree_is_followed(tree, capsys: pytest.CaptureFixture[str]) -> None:
    root = tree({**GOOD, "twin/deployments.json": deployments_json("twin", {"c1.main": SHA}),
                 "twin/shared.yaml": "main: {cpus: 2}\n"})
    os.symlink(root / "twin" / "shared.yaml", root / "twin" / "kubernetes-c1.yaml")
    _, records, _ = render_records(capsys, root)
    assert "objects" in records["twin.main"]


def test_odd_service_directory_names_are_skipped_with_a_warning(tree, capsys: pytest.CaptureFixture[str]) -> None:
    root = tree({**GOOD, "Upper/kubernetes-c1.yaml": "main: {}\n", "has.dot/kubernetes-c1.yaml": "main: {}\n",
                 "has space/kubernetes-c1.yaml": "main: {}\n", ".hidden/kubernetes-c1.yaml": "main: {}\n",
                 "README.md": "docs\n", "lonely": "a file\n", "-dash/kubernetes-c1.yaml": "main: {}\n"})
    code, out, _ = run(capsys, "validate", "--soa-dir", str(root))
    assert code == 0
    for name in ("Upper", "has.dot", "has space", "-dash"):
        assert f"warning: {name}: skipped: not a valid service name" in out
    assert "warning: lonely: skipped: not a directory" in out and "README" not in out
    assert ".hidden" not in out
    assert "1 services" in out


def test_malformed_deployments_json_invalidates_that_service_only(tree, capsys: pytest.CaptureFixture[str]) -> None:
    root = tree({**GOOD, "svc/kubernetes-c1.yaml": "main: {}\n", "svc/deployments.json": "{not json"})
    code, records, _ = render_records(capsys, root)
    assert code == 1 and "objects" in records["good.main"]
    assert "svc/deployments.json" in records["svc.main"]["error"]
    assert "invalid JSON at line 1" in records["svc.main"]["error"]


def test_broken_service_yaml_blocks_its_instances_only(tree, capsys: pytest.CaptureFixture[str]) -> None:
    root = tree({**GOOD, "svc/service.yaml": "cpus: [\n", "svc/kubernetes-c1.yaml": "main: {}\n",
                 "svc/deployments.json": deployments_json("svc", {"c1.main": SHA})})
    code, records, _ = render_records(capsys, root)
    assert "svc/service.yaml" in records["svc.main"]["error"] and "objects" in records["good.main"]


def test_unknown_and_mistyped_keys_through_the_cli(tree, capsys: pytest.CaptureFixture[str]) -> None:
    root = tree({**GOOD, "svc/kubernetes-c1.yaml": "a: {cpuz: 1}\nb: {instances: many}\nc: {}\n",
                 "svc/deployments.json": deployments_json("svc", {f"c1.{n}": SHA for n in "abc"})})
    code, out, _ = run(capsys, "validate", "--soa-dir", str(root), "svc")
    assert code == 1
    assert "error: svc/kubernetes-c1.yaml: svc.a: cpuz: unknown key (did you mean 'cpus'?)" in out
    assert "error: svc/kubernetes-c1.yaml: svc.b: instances: must be a whole number (got 'many')" in out
    assert "svc.c" not in out.replace("svc.c:", "")  # c is fine (an empty-instance warning at most)


def test_no_traceback_from_a_real_process(tree) -> None:
    root = tree({**GOOD, "bad/kubernetes-c1.yaml": BOMB, "worse/kubernetes-c1.yaml": b"\xff\xfe\x00"})
    proc = subprocess.run([sys.executable, "-m", "reconciler", "validate", "--soa-dir", str(root)],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "alias bomb" in proc.stdout and "UTF-8" in proc.stdout


def test_missing_directory_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "validate", "--soa-dir", str(tmp_path / "nope"))
    assert code == 2 and "does not exist" in err
