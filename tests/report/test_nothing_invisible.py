"""A file that cannot be read never makes its service vanish: every instance it would define is an
Invalid row, a service-level row `*` where the instances cannot be named (spec section 5)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.engine.actions import Wanted
from reconciler.engine.plan import plan
from reconciler.engine.policy import Policy
from reconciler.reconcile.desired import wanted
from reconciler.render.settings import RenderSettings
from reconciler.render.tree import render_tree
from reconciler.report.status import instance_rows
from reconciler.sources.directory import DirectoryTree
from tests.conftest import SHA, deployments_json, write_tree

CLUSTER = "c1"
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))


def tree(tmp_path: Path, broken: dict[str, str | bytes]) -> Path:
    files: dict[str, str | bytes] = {
        "good/kubernetes-c1.yaml": "main: {}\n", "good/deployments.json": deployments_json("good", {"c1.main": SHA}),
        "bad/kubernetes-c1.yaml": "main: {}\n", "bad/deployments.json": deployments_json("bad", {"c1.main": SHA})}
    return write_tree(tmp_path / "soa", {**files, **broken})


def rows_of(root: Path) -> dict[tuple[str, str], tuple[str, str]]:
    rendered = render_tree(DirectoryTree(root), [CLUSTER], lambda c: RenderSettings(cluster=c))
    p = plan(wanted(rendered, CLUSTER), [], Policy(CLUSTER, "paasta.yelp.com", prune=True))
    return {(r.service, r.instance): (r.status, r.message)
            for r in instance_rows(CLUSTER, rendered.results, p, {}, label_domain="paasta.yelp.com")}


@pytest.mark.parametrize("content, needle", [
    (b"main: {cpus: 1}\nother: {env: {A: \"\xff\"}}\n", "not valid UTF-8"),
    (BOMB, "alias bomb"),
    ("main: {cpus: 1\n", "invalid YAML"),
    ("main:\n  cpus: 1\n  cpus: 2\n", "duplicate key 'cpus'"),
])
def test_an_unparseable_instance_file_is_a_service_level_invalid_row(tmp_path: Path, content: str | bytes,
                                                                      needle: str) -> None:
    rows = rows_of(tree(tmp_path, {"bad/kubernetes-c1.yaml": content}))
    assert rows[("good", "main")][0] == "Missing"
    status, message = rows[("bad", "*")]
    assert status == "Invalid" and "bad/kubernetes-c1.yaml" in message and needle in message


def test_symlinks_out_of_the_tree_and_huge_files(tmp_path: Path) -> None:
    root = tree(tmp_path, {})
    outside = tmp_path / "outside.yaml"
    outside.write_text("main: {}\n")
    (root / "bad" / "kubernetes-c1.yaml").unlink()
    os.symlink(outside, root / "bad" / "kubernetes-c1.yaml")
    assert "symlink" in rows_of(root)[("bad", "*")][1]
    (root / "bad" / "kubernetes-c1.yaml").unlink()
    with open(root / "bad" / "kubernetes-c1.yaml", "wb") as big:
        big.truncate(9 * 1024 * 1024)
    assert "larger than 8 MiB" in rows_of(root)[("bad", "*")][1]


def test_an_unreadable_service_directory_has_a_row_on_every_cluster(tmp_path: Path) -> None:
    root = tree(tmp_path, {})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "bad" / "kubernetes-c1.yaml").rename(elsewhere / "kubernetes-c1.yaml")
    for name in os.listdir(root / "bad"):
        os.unlink(root / "bad" / name)
    os.rmdir(root / "bad")
    os.symlink(elsewhere, root / "bad")  # a service directory that is a link out of the tree
    status, message = rows_of(root)[("bad", "*")]  # refused, never followed, never invisible
    assert status == "Invalid" and "refused: symlink that points outside the tree" in message
    rendered = render_tree(DirectoryTree(root), [CLUSTER, "c2"], lambda c: RenderSettings(cluster=c), ["bad"])
    assert [(r.service, r.instance, r.cluster) for r in rendered.results] == [("bad", None, CLUSTER), ("bad", None, "c2")]
    assert "bad" in wanted(rendered, CLUSTER).protected_services


def test_a_broken_service_file_makes_every_instance_invalid_and_protects_it(tmp_path: Path) -> None:
    rows = rows_of(tree(tmp_path, {"bad/service.yaml": "cpus: 1\ncpus: 2\n"}))
    status, message = rows[("bad", "main")]
    assert status == "Invalid" and "bad/service.yaml" in message and "duplicate key 'cpus'" in message
    rendered = render_tree(DirectoryTree(tmp_path / "soa"), [CLUSTER], lambda c: RenderSettings(cluster=c))
    assert "bad" in wanted(rendered, CLUSTER).protected_services or \
        ("bad", "main") in wanted(rendered, CLUSTER).protected_instances


def test_an_unreadable_instance_file_protects_what_runs(tmp_path: Path) -> None:
    root = tree(tmp_path, {"bad/kubernetes-c1.yaml": b"\xff"})
    rendered = render_tree(DirectoryTree(root), [CLUSTER], lambda c: RenderSettings(cluster=c))
    assert "bad" in wanted(rendered, CLUSTER).protected_services
    assert isinstance(wanted(rendered, CLUSTER), Wanted)
