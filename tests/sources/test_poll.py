"""SourcePoller against real remotes (file:// URLs) and real directories."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from reconciler.config import SourceConfig
from reconciler.render.settings import RenderSettings
from reconciler.render.tree import render_tree
from reconciler.sources.directory import DirectoryTree
from reconciler.sources.gittree import GitTree
from reconciler.sources.mirror import Mirror
from reconciler.sources.poll import PollResult, SourcePoller
from tests.conftest import SHA, deployments_json, write_tree
from tests.support.gitremote import GitRemote, service_files, split_deployments


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


SOA, DEPLOYMENTS = split_deployments({**service_files("alpha"), **service_files("beta"),
                                      **service_files("gamma"), "README.md": "soa-configs\n"})


def poller(source: SourceConfig, state_dir: Path, clock: Clock | None = None) -> SourcePoller:
    return SourcePoller(source, str(state_dir), clock=clock or Clock())


def git_source(remote: GitRemote) -> SourceConfig:
    return SourceConfig(repo=remote.url, branch="main", deployments_branch="deployments")


def read(result: PollResult, service: str, name: str) -> bytes | None:
    assert result.snapshot is not None
    return result.snapshot.tree.read_service(service).files.get(name)


# -- git sources ---------------------------------------------------------------------------

def test_first_poll_reads_everything(remote: GitRemote, state_dir: Path) -> None:
    soa = remote.commit(SOA)
    deployments = remote.commit(DEPLOYMENTS, branch="deployments")
    result = poller(git_source(remote), state_dir).poll()
    assert result.fresh and result.changed is None and result.error is None
    assert result.snapshot is not None
    assert (result.snapshot.soa_commit, result.snapshot.deployments_commit) == (soa, deployments)
    assert isinstance(result.snapshot.tree, GitTree)
    assert result.snapshot.tree.services()[0] == ["alpha", "beta", "gamma"]
    assert read(result, "beta", "deployments.json") == DEPLOYMENTS["beta/deployments.json"].encode()


def test_same_commits_do_nothing(remote: GitRemote, state_dir: Path) -> None:
    remote.commit(SOA)
    remote.commit(DEPLOYMENTS, branch="deployments")
    source = poller(git_source(remote), state_dir)
    first = source.poll()
    again = source.poll()
    assert again == PollResult(first.snapshot, frozenset(), None, False)
    assert again.snapshot is first.snapshot


def test_a_new_commit_changes_only_the_touched_service(remote: GitRemote, state_dir: Path) -> None:
    remote.commit(SOA)
    remote.commit(DEPLOYMENTS, branch="deployments")
    source = poller(git_source(remote), state_dir)
    source.poll()
    soa = remote.commit({"beta/kubernetes-norcal-prod.yaml": "main: {cpus: 2}\n"})
    result = source.poll()
    assert result.fresh and result.changed == {"beta"} and result.error is None
    assert result.snapshot is not None and result.snapshot.soa_commit == soa
    assert read(result, "beta", "kubernetes-norcal-prod.yaml") == b"main: {cpus: 2}\n"
    deployments = remote.commit({"gamma/deployments.json": deployments_json("gamma", {"x": SHA})},
                                branch="deployments")
    remote.commit({"alpha/service.yaml": "mem: 64\n"})
    result = source.poll()
    assert result.changed == {"alpha", "gamma"}
    assert result.snapshot is not None and result.snapshot.deployments_commit == deployments
    assert source.poll().changed == frozenset()


def test_a_missing_deployments_branch_is_nothing_deployed_yet(remote: GitRemote, state_dir: Path) -> None:
    remote.commit(SOA)
    source = poller(git_source(remote), state_dir)
    result = source.poll()
    assert result.error is None and result.snapshot is not None
    assert result.snapshot.deployments_commit is None
    assert read(result, "alpha", "deployments.json") is None
    remote.commit(DEPLOYMENTS, branch="deployments")
    result = source.poll()
    assert result.fresh and result.changed == {"alpha", "beta", "gamma"}
    assert read(result, "alpha", "deployments.json") == DEPLOYMENTS["alpha/deployments.json"].encode()


def test_a_force_push_means_everything_and_the_new_content(remote: GitRemote, state_dir: Path) -> None:
    remote.commit(SOA)
    remote.commit({"alpha/service.yaml": "mem: 64\n"})
    source = poller(git_source(remote), state_dir)
    source.poll()
    rewritten = remote.rewrite({"alpha/service.yaml": "mem: 128\n"})
    result = source.poll()
    assert result.fresh and result.changed is None and result.error is None
    assert result.snapshot is not None and result.snapshot.soa_commit == rewritten
    assert read(result, "alpha", "service.yaml") == b"mem: 128\n"


def test_a_missing_branch_is_an_error(remote: GitRemote, state_dir: Path) -> None:
    remote.commit(SOA, branch="trunk")
    result = poller(git_source(remote), state_dir).poll()
    assert result.snapshot is None and not result.fresh
    assert result.error == f"branch 'main' not found in {remote.url}"


def test_an_unreachable_remote_keeps_the_last_good_snapshot_and_backs_off(remote: GitRemote,
                                                                         state_dir: Path) -> None:
    remote.commit(SOA)
    clock = Clock()
    source = poller(git_source(remote), state_dir, clock)
    good = source.poll().snapshot
    remote.move_away()
    failed = source.poll()
    assert failed.snapshot is good and failed.changed == frozenset() and not failed.fresh
    assert failed.error is not None and remote.url in failed.error
    assert source.next_attempt_in == 1.0
    remote.come_back()
    clock.now += 0.5
    waiting = source.poll()  # still backing off: no attempt, the failure stays reported
    assert waiting.error == failed.error and waiting.snapshot is good
    remote.move_away()
    delays = []
    for _ in range(4):
        clock.now += source.next_attempt_in
        assert source.poll().error is not None
        delays.append(source.next_attempt_in)
    assert delays == [2.0, 4.0, 8.0, 16.0]
    remote.come_back()
    assert source.poll().error is not None  # the backoff is still running
    clock.now += source.next_attempt_in
    recovered = source.poll()
    assert recovered == PollResult(good, frozenset(), None, False)
    assert source.next_attempt_in == 0 and source.failures == 0


def test_force_skips_the_backoff(remote: GitRemote, state_dir: Path) -> None:
    remote.commit(SOA)
    source = poller(git_source(remote), state_dir)
    source.poll()
    remote.move_away()
    assert source.poll().error is not None
    remote.come_back()
    soa = remote.commit({"beta/service.yaml": "mem: 64\n"})
    result = source.poll(force=True)  # e.g. a webhook said something was pushed
    assert result.error is None and result.changed == {"beta"}
    assert result.snapshot is not None and result.snapshot.soa_commit == soa


def test_backoff_is_capped(remote: GitRemote, state_dir: Path) -> None:
    clock = Clock()
    source = SourcePoller(git_source(remote), str(state_dir), clock=clock, backoff_max=5)
    for _ in range(6):
        clock.now += source.next_attempt_in
        assert source.poll().error is not None  # the remote has no branch at all
    assert source.next_attempt_in == 5


def lose_blob(mirror_path: Path, blob: str) -> None:
    """Unpack the mirror's objects and delete one blob: refs and trees stay intact."""
    packs = mirror_path / "objects" / "pack"
    for pack in packs.glob("*.pack"):
        data = pack.read_bytes()
        for part in packs.glob(pack.stem + ".*"):
            part.unlink()
        subprocess.run(["git", "unpack-objects", "-q"], input=data, cwd=mirror_path, check=True)
    (mirror_path / "objects" / blob[:2] / blob[2:]).unlink()


def test_a_damaged_mirror_is_cloned_again_and_what_it_lost_rendered_again(remote: GitRemote,
                                                                          state_dir: Path) -> None:
    remote.commit(SOA)
    remote.commit(DEPLOYMENTS, branch="deployments")
    poller(git_source(remote), state_dir).poll()
    mirror = Mirror(remote.url, state_dir)
    lose_blob(mirror.path, mirror.repo.commit("main").tree["alpha/service.yaml"].hexsha)
    clock = Clock()
    source = poller(git_source(remote), state_dir, clock)  # say, the daemon restarted
    first = source.poll()  # the fetch has nothing to do: refs and tips are all there
    assert first.fresh and first.error is None and first.snapshot is not None
    alpha = first.snapshot.tree.read_service("alpha")  # the renderer meets the damage first
    assert alpha.unreadable["service.yaml"].startswith("cannot read: object")
    assert first.snapshot.tree.read_service("beta").unreadable == {}
    failed = source.poll()
    assert failed.error is not None and "corrupt (objects of alpha could not be read)" in failed.error
    assert failed.snapshot is first.snapshot
    clock.now += source.next_attempt_in
    healed = source.poll()  # cloned again
    assert healed.error is None and healed.fresh and healed.changed == {"alpha"}
    assert healed.snapshot is not None and healed.snapshot.soa_commit == first.snapshot.soa_commit
    assert healed.snapshot.tree.read_service("alpha").unreadable == {}
    assert source.poll() == PollResult(healed.snapshot, frozenset(), None, False)


def test_lost_objects_come_back_with_the_next_fetch(remote: GitRemote, state_dir: Path) -> None:
    remote.commit(SOA)
    source = poller(git_source(remote), state_dir)
    source.poll()
    assert source.mirror is not None
    shutil.rmtree(source.mirror.path / "objects")
    (source.mirror.path / "objects").mkdir()
    soa = remote.commit({"alpha/service.yaml": "mem: 64\n"})
    result = source.poll()  # git fetches whatever it lacks
    assert result.error is None and result.snapshot is not None and result.snapshot.soa_commit == soa
    assert result.changed == {"alpha"}
    assert read(result, "alpha", "service.yaml") == b"mem: 64\n"


# -- path sources --------------------------------------------------------------------------

def test_a_path_source_hashes_its_files(tmp_path: Path, state_dir: Path) -> None:
    root = write_tree(tmp_path / "soa", {**SOA, **DEPLOYMENTS})
    source = poller(SourceConfig(path=str(root)), state_dir)
    first = source.poll()
    assert first.fresh and first.changed is None and first.snapshot is not None
    assert first.snapshot.deployments_commit is None and len(first.snapshot.soa_commit) == 64
    assert source.poll() == PollResult(first.snapshot, frozenset(), None, False)
    write_tree(root, {"beta/service.yaml": "mem: 64\n", "README.md": "changed\n"})
    second = source.poll()
    assert second.fresh and second.changed == {"beta"}
    assert second.snapshot is not None and second.snapshot.soa_commit != first.snapshot.soa_commit
    assert read(second, "beta", "service.yaml") == b"mem: 64\n"
    shutil.rmtree(root / "gamma")
    write_tree(root, service_files("delta"))
    assert source.poll().changed == {"gamma", "delta"}
    write_tree(root, {"beta/service.yaml": SOA["beta/service.yaml"]})
    assert source.poll().changed == {"beta"}


def test_a_path_snapshot_is_what_was_hashed(tmp_path: Path, state_dir: Path) -> None:
    root = write_tree(tmp_path / "soa", {**SOA, **DEPLOYMENTS})
    snapshot = poller(SourceConfig(path=str(root)), state_dir).poll().snapshot
    assert snapshot is not None
    write_tree(root, {"alpha/service.yaml": "mem: 64\n"})
    assert snapshot.tree.read_service("alpha").files["service.yaml"] == b"description: alpha\nmem: 512\n"


def test_a_path_snapshot_renders_like_the_directory(tmp_path: Path, state_dir: Path) -> None:
    files = {**SOA, **DEPLOYMENTS, "beta/kubernetes-c2.yaml": "main: {}\n", "Bad/x": "y",
             "alpha/autotuned_defaults/kubernetes-norcal-prod.yaml": "main: {cpus: 2}\n",
             "alpha/kubernetes-c3.yaml/x": "a directory"}
    root = write_tree(tmp_path / "soa", files)
    (root / "gamma" / "autotuned_defaults").write_text("not a directory")
    snapshot = poller(SourceConfig(path=str(root)), state_dir).poll().snapshot
    assert snapshot is not None
    directory = DirectoryTree(root)
    assert snapshot.tree.services() == directory.services()
    for service in ["alpha", "beta", "gamma", "nope"]:
        for cluster in (None, "norcal-prod", "c2", "c3"):
            assert snapshot.tree.read_service(service, cluster) == directory.read_service(service, cluster)
    for clusters in (None, ["norcal-prod"], ["c2", "c3"]):
        a = render_tree(snapshot.tree, clusters, lambda c: RenderSettings(cluster=c))
        b = render_tree(directory, clusters, lambda c: RenderSettings(cluster=c))
        assert (a.results, a.issues, a.services) == (b.results, b.issues, b.services)


def test_an_unreadable_path_keeps_the_last_snapshot(tmp_path: Path, state_dir: Path) -> None:
    root = write_tree(tmp_path / "soa", SOA)
    clock = Clock()
    source = poller(SourceConfig(path=str(root)), state_dir, clock)
    good = source.poll().snapshot
    root.rename(tmp_path / "elsewhere")
    failed = source.poll()
    assert failed.snapshot is good and failed.error is not None and str(root) in failed.error
    (tmp_path / "elsewhere").rename(root)
    clock.now += source.next_attempt_in
    assert source.poll() == PollResult(good, frozenset(), None, False)


def test_a_source_needs_a_repo_or_a_path(state_dir: Path) -> None:
    with pytest.raises(ValueError):
        SourcePoller(SourceConfig(), str(state_dir))


# -- scale ---------------------------------------------------------------------------------

def test_a_no_change_poll_is_cheap_at_a_thousand_services(remote: GitRemote, state_dir: Path) -> None:
    files: dict[str, str] = {}
    for i in range(1000):
        files.update(service_files(f"svc{i:04d}", {"norcal-prod": ["main"], "c2": ["main", "canary"]}))
    soa, deployments = split_deployments(files)
    remote.commit(soa)
    remote.commit(deployments, branch="deployments")
    source = poller(git_source(remote), state_dir)
    assert source.poll().fresh
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        result = source.poll()
        timings.append(time.perf_counter() - started)
        assert result.changed == frozenset() and not result.fresh
    assert min(timings) < 0.25, timings  # ~20 ms here: one `git fetch` and two ref reads
    remote.commit({"svc0500/service.yaml": "mem: 64\n"})
    assert source.poll().changed == {"svc0500"}
