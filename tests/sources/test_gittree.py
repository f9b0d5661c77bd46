"""GitTree reads a commit exactly as DirectoryTree reads the same files; changes between commits."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import git
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.render.settings import RenderSettings
from reconciler.render.tree import PARALLEL_MIN_SERVICES, TreeRender, render_tree
from reconciler.soa.files import MAX_FILE_BYTES
from reconciler.sources.changes import changed_deployments, changed_services
from reconciler.sources.directory import DirectoryTree
from reconciler.sources.gittree import GitTree
from tests.conftest import SHA, deployments_json
from tests.support.gitremote import IDENTITY, Files, Link, service_files, write_files

CLUSTERS = (None, "c1", "c2", "c3")


class Layout:
    """A soa-configs layout on disk, and the same files as two commits of one repository:
    `main` without the deployments.json files, `deployments` with only those (and the links)."""

    def __init__(self, root: Path, files: Files, *, keep_soa_deployments: bool = False) -> None:
        self.dir = root / "layout"
        self.dir.mkdir(parents=True)
        (root / "outside").mkdir()
        (root / "outside" / "x.yaml").write_text("main: {}\n")
        write_files(self.dir, files)
        self.repo = git.Repo.init(root / "repo", initial_branch="main")
        self.keep = keep_soa_deployments
        self.soa = self.commit(lambda rel, is_link: is_link or keep_soa_deployments or not _deployments(rel))
        self.repo.git.checkout("--orphan", "deployments")
        self.deployments = self.commit(lambda rel, is_link: is_link or _deployments(rel))

    def commit(self, keep: object) -> str:
        work = Path(self.repo.working_dir)
        self.repo.git.rm("-rf", "--quiet", "--ignore-unmatch", ".")
        for rel in os.listdir(work):
            if rel != ".git":
                path = work / rel
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        shutil.copytree(self.dir, work, symlinks=True, dirs_exist_ok=True)
        for path in sorted(work.rglob("*"), reverse=True):
            if ".git" in path.relative_to(work).parts or (path.is_dir() and not path.is_symlink()):
                continue
            if not keep(str(path.relative_to(work)), path.is_symlink()):  # type: ignore[operator]
                path.unlink()
        self.repo.git.add("-A")
        self.repo.git.commit("--quiet", "--allow-empty", "-m", "layout", env=IDENTITY)
        return str(self.repo.head.commit.hexsha)

    def git_tree(self) -> GitTree:
        return GitTree(self.repo, self.soa, self.deployments)


def _deployments(rel: str) -> bool:
    parts = rel.split("/")
    return len(parts) == 2 and parts[1] == "deployments.json"


def settings_for(cluster: str) -> RenderSettings:
    return RenderSettings(cluster=cluster, docker_registry="registry.example.com")


def assert_same(tree: GitTree, directory: DirectoryTree, names: list[str]) -> None:
    assert tree.services() == directory.services()
    for service in [*names, "no-such-service"]:
        for cluster in CLUSTERS:
            assert tree.read_service(service, cluster) == directory.read_service(service, cluster), (service, cluster)
    for clusters in (None, ["c1"], ["c1", "c2"]):
        assert_same_render(render_tree(tree, clusters, settings_for), render_tree(directory, clusters, settings_for))


def assert_same_render(a: TreeRender, b: TreeRender) -> None:
    assert a.services == b.services
    assert a.issues == b.issues
    assert a.results == b.results


# -- equivalence with DirectoryTree -----------------------------------------------------------

SERVICE_NAMES = ["alpha", "beta", "gamma_1", "d-2", "Bad", "_tmpl", "x.y"]
CONTENTS = {
    "service.yaml": ["mem: 512\n", "cpus: 0.25\nenv: {A: b}\n", "", "bad: [yaml", "description: x\n"],
    "deploy.yaml": ["pipeline: [{step: c1.main}]\n", "pipeline: []\n"],
    "kubernetes-c1.yaml": ["main: {cpus: 0.5}\n", "main: {}\nworker: {instances: 2}\n", "main: {bogus: 1}\n",
                           "_t: &t {cpus: 1}\nmain: {<<: *t}\n"],
    "eks-c1.yaml": ["main: {cpus: 2}\n", "other: {}\n"],
    "kubernetes-c2.yaml": ["main: {instances: 3}\n", "- not a mapping\n"],
    "tron-c1.yaml": ["job: {}\n"],
    "README.md": ["hello\n"],
    ".hidden": ["x\n"],
    "autotuned_defaults/kubernetes-c1.yaml": ["main: {cpus: 2}\n", "{}\n"],
    "autotuned_defaults/kubernetes-c2.yaml": ["main: {mem: 1024}\n"],
}
LINKS: dict[str, str | Link] = {
    "alias": Link("alpha"),
    "alpha/kubernetes-c3.yaml": Link("../beta/kubernetes-c1.yaml"),
    "beta/eks-c1.yaml": Link("../../outside/x.yaml"),
    "beta/autotuned_defaults": Link("../alpha/autotuned_defaults"),
    "gamma_1/kubernetes-c2.yaml": Link("nowhere.yaml"),
    "d-2/kubernetes-c3.yaml": Link("kubernetes-c3.yaml"),
    "d-2/kubernetes-c1.yaml": Link("../d-2/./service.yaml"),
    "d-2/eks-c1.yaml": Link("sub/../service.yaml"),  # the kernel wants sub/ to exist
    "escape": Link("../outside"),
}


@st.composite
def layouts(draw: st.DrawFn) -> dict[str, str | Link]:
    files: dict[str, str | Link] = {}
    for service in draw(st.lists(st.sampled_from(SERVICE_NAMES), min_size=1, max_size=5, unique=True)):
        files[f"{service}/service.yaml"] = draw(st.sampled_from(CONTENTS["service.yaml"]))
        for name in draw(st.lists(st.sampled_from(sorted(CONTENTS)), max_size=6, unique=True)):
            files[f"{service}/{name}"] = draw(st.sampled_from(CONTENTS[name]))
        if draw(st.booleans()):
            groups = {g: SHA for g in draw(st.lists(st.sampled_from(["c1.main", "c2.main", "c1.worker"]),
                                                    unique=True))}
            files[f"{service}/deployments.json"] = deployments_json(service, groups)
    for path in draw(st.lists(st.sampled_from(sorted(LINKS)), max_size=4, unique=True)):
        if path.split("/")[0] in {p.split("/")[0] for p in files} or "/" not in path:
            files[path] = LINKS[path]
    if draw(st.booleans()):
        files["README.md"] = "soa-configs\n"
    if draw(st.booleans()):
        files["epsilon"] = "a file named like a service\n"
    return files


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layouts())
def test_gittree_reads_what_directorytree_reads(files: dict[str, str | Link]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        layout = Layout(Path(tmp), files)
        names = sorted({p.split("/")[0] for p in files})
        assert_same(layout.git_tree(), DirectoryTree(layout.dir), names)


def test_symlinks_inside_are_followed_and_outside_refused(tmp_path: Path) -> None:
    files: dict[str, str | Link] = {**service_files("alpha"), **service_files("beta", {"c1": ["main"]}),
                                    **LINKS, "gamma_1/service.yaml": "mem: 64\n", "d-2/service.yaml": "mem: 64\n"}
    layout = Layout(tmp_path, files)
    tree = layout.git_tree()
    names, skipped = tree.services()
    assert names == ["alias", "alpha", "beta", "d-2", "escape", "gamma_1"]  # escape: listed, its read refused
    assert skipped == []
    assert tree.read_service("alias") == DirectoryTree(layout.dir).read_service("alias")
    assert tree.read_service("alias").files["service.yaml"] == b"description: alpha\nmem: 512\n"
    assert tree.read_service("beta").unreadable == {
        "eks-c1.yaml": "refused: symlink that points outside the tree",
        "autotuned_defaults": "cannot list directory: No such file or directory"}  # a dangling link
    assert tree.read_service("gamma_1").unreadable == {"kubernetes-c2.yaml": "cannot read: No such file or directory"}
    assert tree.read_service("d-2").unreadable == {"kubernetes-c3.yaml": "cannot read: Too many levels of symbolic links",
                                                   "eks-c1.yaml": "cannot read: No such file or directory"}
    assert tree.read_service("d-2").files["kubernetes-c1.yaml"] == b"mem: 64\n"
    assert tree.read_service("escape").unreadable == {".": "refused: symlink that points outside the tree"}
    assert_same(tree, DirectoryTree(layout.dir), names)


def test_a_symlink_loop_at_the_top_is_skipped(tmp_path: Path) -> None:
    # (DirectoryTree.services() raises ELOOP from DirEntry.is_dir() here: reported, not ours)
    layout = Layout(tmp_path, {**service_files("alpha"), "loop": Link("loop"), "Loop": Link("Loop")})
    names, skipped = layout.git_tree().services()
    assert names == ["alpha"]
    assert [(i.file, i.message) for i in skipped] == [("loop", "skipped: not a directory")]  # Loop: not a service
    assert layout.git_tree().read_service("loop").unreadable == {
        ".": "cannot list directory: Too many levels of symbolic links"}


def test_odd_entries_read_like_on_disk(tmp_path: Path) -> None:
    files: dict[str, str | Link] = {
        "alpha/service.yaml": "mem: 64\n",
        "alpha/kubernetes-c1.yaml/oops": "a directory where a file should be\n",
        "alpha/autotuned_defaults": "a file where a directory should be\n",
        "beta/service.yaml": "mem: 64\n",
        "beta/kubernetes-c1.yaml": Link("service.yaml/x"),
        "beta/kubernetes-c2.yaml": Link("service.yaml/../service.yaml"),
        "epsilon": "a file named like a service\n",
    }
    layout = Layout(tmp_path, files)
    tree = layout.git_tree()
    assert tree.read_service("alpha").unreadable == {
        "kubernetes-c1.yaml": "not a regular file", "autotuned_defaults": "cannot list directory: Not a directory"}
    assert tree.read_service("alpha", "c1").unreadable == {"kubernetes-c1.yaml": "not a regular file"}
    assert tree.read_service("beta").unreadable == {"kubernetes-c1.yaml": "cannot read: Not a directory",
                                                    "kubernetes-c2.yaml": "cannot read: Not a directory"}
    assert [i.message for i in tree.services()[1]] == ["skipped: not a directory"]
    assert tree.read_service("epsilon").unreadable == {".": "cannot list directory: Not a directory"}
    assert_same(tree, DirectoryTree(layout.dir), ["alpha", "beta", "epsilon"])


def test_files_over_the_size_limit_are_unreadable(tmp_path: Path) -> None:
    big = b"#" * (MAX_FILE_BYTES + 1)
    layout = Layout(tmp_path, {"alpha/service.yaml": "mem: 64\n", "alpha/kubernetes-c1.yaml": big.decode(),
                               "alpha/kubernetes-c2.yaml": "main: {}\n"})
    files = layout.git_tree().read_service("alpha")
    assert files.unreadable == {"kubernetes-c1.yaml": "larger than 8 MiB"}
    assert files.files["kubernetes-c2.yaml"] == b"main: {}\n"  # the stream stayed in step
    assert files == DirectoryTree(layout.dir).read_service("alpha")


def test_a_submodule_is_not_a_service(tmp_path: Path) -> None:
    layout = Layout(tmp_path, service_files("alpha"))
    layout.repo.git.checkout("main")
    layout.repo.git.update_index("--add", "--cacheinfo", f"160000,{layout.soa},vendored")
    layout.repo.git.commit("--quiet", "-m", "submodule", env=IDENTITY)
    tree = GitTree(layout.repo, layout.repo.head.commit.hexsha, None)
    assert tree.services()[0] == ["alpha"]
    assert [i.message for i in tree.services()[1]] == ["skipped: not a directory (a git submodule)"]
    assert tree.read_service("vendored").files == {}


# -- deployments.json ----------------------------------------------------------------------

def test_deployments_json_comes_only_from_the_deployments_branch(tmp_path: Path) -> None:
    files = {**service_files("alpha"), **service_files("beta")}
    layout = Layout(tmp_path, files, keep_soa_deployments=True)
    layout.repo.git.checkout("deployments")
    write_files(Path(layout.repo.working_dir), {"alpha/deployments.json": deployments_json("alpha", {"x": SHA}),
                                                "beta/deployments.json": None})
    layout.repo.git.add("-A")
    layout.repo.git.commit("--quiet", "-m", "deploy", env=IDENTITY)
    tree = GitTree(layout.repo, layout.soa, layout.repo.head.commit.hexsha)
    assert tree.read_service("alpha").files["deployments.json"] == deployments_json("alpha", {"x": SHA}).encode()
    assert "deployments.json" not in tree.read_service("beta").files  # the soa-configs copy is ignored
    nothing = GitTree(layout.repo, layout.soa, None)
    assert "deployments.json" not in nothing.read_service("alpha", "norcal-prod").files
    assert nothing.read_service("alpha", "norcal-prod").unreadable == {}


# -- processes and damage ------------------------------------------------------------------

def test_forked_render_workers_read_on_their_own(tmp_path: Path) -> None:
    files: dict[str, str] = {}
    for i in range(PARALLEL_MIN_SERVICES + 6):
        files.update(service_files(f"svc{i:03d}", {"c1": ["main", "canary"]}))
    layout = Layout(tmp_path, files)
    tree = layout.git_tree()
    one = render_tree(tree, ["c1"], settings_for)
    assert len(one.results) == 2 * (PARALLEL_MIN_SERVICES + 6)
    assert_same_render(render_tree(tree, ["c1"], settings_for, workers=3), one)
    assert_same_render(render_tree(tree, ["c1"], settings_for), one)  # the parent's reader still works


def test_a_missing_blob_makes_the_file_unreadable_and_the_tree_damaged(tmp_path: Path) -> None:
    layout = Layout(tmp_path, {**service_files("alpha"), **service_files("beta")})
    blob = layout.repo.commit(layout.soa).tree["alpha/service.yaml"].hexsha
    os.remove(Path(layout.repo.git_dir) / "objects" / blob[:2] / blob[2:])
    tree = GitTree(git.Repo(layout.repo.git_dir), layout.soa, layout.deployments)
    alpha = tree.read_service("alpha")
    assert alpha.unreadable["service.yaml"].startswith(f"cannot read: object {blob} is missing")
    assert tree.read_service("beta").unreadable == {}
    assert tree.damaged == {"alpha"}


def test_annotated_tags_are_peeled(tmp_path: Path) -> None:
    layout = Layout(tmp_path, service_files("alpha"))
    layout.repo.git.tag("-a", "v1", layout.soa, "-m", "v1", env=IDENTITY)
    tag = layout.repo.tags["v1"].tag
    assert tag is not None
    tree = GitTree(layout.repo, tag.hexsha, None)
    assert tree.read_service("alpha").files["service.yaml"] == b"description: alpha\nmem: 512\n"


# -- changed services ----------------------------------------------------------------------

class History:
    """Commits on two unrelated branches of one repository, made file by file."""

    def __init__(self, root: Path) -> None:
        self.repo = git.Repo.init(root, initial_branch="main")

    def commit(self, files: Mapping[str, str | bytes | Link | None], branch: str = "main") -> str:
        heads = [h.name for h in self.repo.heads]
        if self.repo.head.is_valid() and self.repo.active_branch.name != branch:
            if branch in heads:
                self.repo.git.checkout("--quiet", branch)
            else:
                self.repo.git.checkout("--quiet", "--orphan", branch)
                self.repo.git.rm("-rf", "--quiet", "--ignore-unmatch", ".")
        write_files(Path(self.repo.working_dir), files)
        self.repo.git.add("-A")
        self.repo.git.commit("--quiet", "--allow-empty", "-m", "change", env=IDENTITY)
        return str(self.repo.head.commit.hexsha)


@pytest.fixture
def history(tmp_path: Path) -> History:
    return History(tmp_path / "history")


BASE = {**service_files("alpha", deployments=False), **service_files("beta", deployments=False),
        **service_files("gamma", deployments=False), "README.md": "soa-configs\n"}


def test_only_the_touched_service_changed(history: History) -> None:
    one = history.commit(BASE)
    two = history.commit({"beta/kubernetes-norcal-prod.yaml": "main: {cpus: 2}\n"})
    assert changed_services(history.repo, one, two) == {"beta"}
    assert changed_services(history.repo, two, two) == set()
    three = history.commit({"alpha/autotuned_defaults/kubernetes-norcal-prod.yaml": "main: {cpus: 2}\n",
                            "gamma/service.yaml": None})
    assert changed_services(history.repo, two, three) == {"alpha", "gamma"}
    assert changed_services(history.repo, one, three) == {"alpha", "beta", "gamma"}


def test_files_rendering_does_not_read_change_nothing(history: History) -> None:
    one = history.commit(BASE)
    two = history.commit({"README.md": "changed\n", ".github/workflows/ci.yaml": "x\n", "Docs/a.md": "x\n",
                          "alpha/tron-norcal-prod.yaml": "job: {}\n", "alpha/README": "x\n", "alpha/.x": "y\n",
                          "beta/deployments.json": deployments_json("beta", {"norcal-prod.main": SHA})})
    assert changed_services(history.repo, one, two) == set()


def test_added_and_removed_services_changed(history: History) -> None:
    one = history.commit(BASE)
    two = history.commit({**service_files("delta"), "gamma": None})
    assert changed_services(history.repo, one, two) == {"delta", "gamma"}


def test_services_reading_through_symlinks_follow_any_change(history: History) -> None:
    one = history.commit({**BASE, "alias": Link("alpha"), "Shared/k.yaml": "main: {}\n",
                          "beta/kubernetes-c1.yaml": Link("../Shared/k.yaml")})
    two = history.commit({"Shared/k.yaml": "main: {cpus: 2}\n"})
    assert changed_services(history.repo, one, two) == {"alias", "beta"}
    three = history.commit({"alpha/service.yaml": "mem: 64\n"})
    assert changed_services(history.repo, two, three) == {"alpha", "alias", "beta"}
    assert changed_services(history.repo, three, history.commit({})) == set()


def test_unknown_or_rewritten_history_means_everything(history: History) -> None:
    one = history.commit(BASE)
    two = history.commit({"alpha/service.yaml": "mem: 64\n"})
    assert changed_services(history.repo, None, two) is None
    assert changed_services(history.repo, "f" * 40, two) is None
    history.repo.git.reset("--hard", "--quiet", one)
    rewritten = history.commit({"beta/service.yaml": "mem: 64\n"})
    assert changed_services(history.repo, two, rewritten) is None  # two is not an ancestor any more
    assert changed_services(history.repo, one, rewritten) == {"beta"}


def test_deployments_changes(history: History) -> None:
    history.commit(BASE)
    d1 = history.commit({"alpha/deployments.json": "{}", "beta/deployments.json": "{}", "README": "x"},
                        branch="deployments")
    assert changed_deployments(history.repo, None, d1) == {"alpha", "beta"}  # the branch appeared
    d2 = history.commit({"beta/deployments.json": '{"v2": {}}', "beta/other.txt": "x", "README": "y"},
                        branch="deployments")
    assert changed_deployments(history.repo, d1, d2) == {"beta"}
    d3 = history.commit({"gamma/deployments.json": "{}", "alpha/deployments.json": None}, branch="deployments")
    assert changed_deployments(history.repo, d2, d3) == {"alpha", "gamma"}
    assert changed_deployments(history.repo, d3, None) == {"beta", "gamma"}  # the branch went away
    assert changed_deployments(history.repo, None, None) == set()
    assert changed_deployments(history.repo, "f" * 40, d3) is None
