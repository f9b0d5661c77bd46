"""Mirror: a real bare mirror of a real bare "remote" (file:// URLs), no mocks of git."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import git
import pytest

from reconciler.scrub import scrub
from reconciler.sources.errors import SourceError
from reconciler.sources.mirror import Mirror, slug
from tests.conftest import REPO
from tests.support.gitremote import GitRemote


def fetched(remote: GitRemote, state_dir: Path) -> Mirror:
    mirror = Mirror(remote.url, state_dir)
    mirror.fetch()
    return mirror


def test_first_fetch_clones_a_bare_mirror(remote: GitRemote, state_dir: Path) -> None:
    sha = remote.commit({"svc/service.yaml": "mem: 512\n"})
    mirror = fetched(remote, state_dir)
    assert mirror.path.parent == state_dir / "mirrors" and mirror.path.name.endswith(".git")
    assert mirror.repo.bare
    assert mirror.resolve("main") == sha
    assert mirror.resolve("deployments") is None
    assert not list(mirror.path.parent.glob("*.tmp-*"))  # the clone went through a temporary name


def test_incremental_fetch_picks_up_new_commits_without_cloning_again(remote: GitRemote, state_dir: Path) -> None:
    remote.commit({"svc/service.yaml": "mem: 512\n"})
    mirror = fetched(remote, state_dir)
    inode = mirror.path.stat().st_ino
    (mirror.path / "not-a-clone").write_text("still here after a fetch")
    new = remote.commit({"svc/service.yaml": "mem: 1024\n"})
    deployments = remote.commit({"svc/deployments.json": "{}"}, branch="deployments")
    mirror.fetch()
    assert mirror.resolve("main") == new
    assert mirror.resolve("deployments") == deployments
    assert mirror.path.stat().st_ino == inode
    assert (mirror.path / "not-a-clone").exists()


def test_force_pushed_and_deleted_branches_follow_the_remote(remote: GitRemote, state_dir: Path) -> None:
    remote.commit({"a": "1"})
    remote.commit({"b": "1"}, branch="other")
    mirror = fetched(remote, state_dir)
    rewritten = remote.rewrite({"a": "2"})
    remote.delete_branch("other")
    mirror.fetch()
    assert mirror.resolve("main") == rewritten
    assert mirror.resolve("other") is None


def test_resolve_reads_packed_refs(remote: GitRemote, state_dir: Path) -> None:
    sha = remote.commit({"a": "1"})
    mirror = fetched(remote, state_dir)
    mirror.repo.git.pack_refs("--all", "--prune")
    assert not (mirror.path / "refs" / "heads" / "main").exists()
    assert mirror.resolve("main") == sha


@pytest.mark.parametrize("branch", ["", "../../config", "a..b", "-x", "a b", "x.lock", "/abs", "a\\b"])
def test_bad_branch_names_are_refused(remote: GitRemote, state_dir: Path, branch: str) -> None:
    remote.commit({"a": "1"})
    with pytest.raises(SourceError, match="not a valid branch name"):
        fetched(remote, state_dir).resolve(branch)


def test_unreachable_remote_is_an_error_naming_the_url(remote: GitRemote, state_dir: Path) -> None:
    sha = remote.commit({"a": "1"})
    mirror = fetched(remote, state_dir)
    remote.move_away()
    with pytest.raises(SourceError) as caught:
        mirror.fetch()
    assert remote.url in str(caught.value) and "does not appear to be a git repository" in str(caught.value)
    assert mirror.resolve("main") == sha  # the mirror itself is intact and still readable
    remote.come_back()
    mirror.fetch()


def test_a_remote_that_never_existed_leaves_no_mirror(tmp_path: Path, state_dir: Path) -> None:
    mirror = Mirror((tmp_path / "nothing.git").as_uri(), state_dir)
    with pytest.raises(SourceError, match="cannot clone"):
        mirror.fetch()
    assert not mirror.path.exists()
    with pytest.raises(SourceError, match="not fetched yet"):
        _ = mirror.repo


def test_credentials_never_appear(state_dir: Path) -> None:
    url = "https://deploy:s3cr3t-token@127.0.0.1:1/soa-configs.git"
    mirror = Mirror(url, state_dir, timeout=20)
    assert "s3cr3t" not in str(mirror.path) and "s3cr3t" not in repr(mirror)
    with pytest.raises(SourceError) as caught:
        mirror.fetch()
    assert "s3cr3t" not in str(caught.value) and "https://127.0.0.1:1" in str(caught.value)
    assert scrub("fatal: https://x:y@h/p and ssh://git@h:p") == "fatal: https://h/p and ssh://h:p"
    assert slug("https://a:b@h/x.git") == slug("https://c:d@h/x.git") != slug("https://h/y.git")


def test_unsafe_protocols_are_refused(state_dir: Path) -> None:
    with pytest.raises(SourceError, match="unsafe"):
        Mirror("ext::sh -c touch% /tmp/pwned", state_dir)


def test_a_hanging_remote_is_killed_after_the_timeout(state_dir: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(server.accept()[0]), daemon=True).start()
    mirror = Mirror(f"http://127.0.0.1:{server.getsockname()[1]}/soa.git", state_dir, timeout=1)
    started = time.monotonic()
    try:
        with pytest.raises(SourceError, match="did not complete in 1 secs"):
            mirror.fetch()
    finally:
        server.close()
        for conn in held:
            conn.close()
    assert time.monotonic() - started < 15
    assert not mirror.path.exists()


# -- corruption -----------------------------------------------------------------------------

def test_a_directory_that_is_not_a_repository_is_moved_aside_and_cloned_again(
        remote: GitRemote, state_dir: Path) -> None:
    sha = remote.commit({"a": "1"})
    mirror = Mirror(remote.url, state_dir)
    mirror.path.mkdir(parents=True)
    (mirror.path / "junk").write_text("not git")
    with pytest.raises(SourceError, match="corrupt \\(not a git repository\\); moved aside"):
        mirror.fetch()
    aside = list(mirror.path.parent.glob(mirror.path.name + ".corrupt-*"))
    assert len(aside) == 1 and (aside[0] / "junk").exists()
    mirror.fetch()
    assert mirror.resolve("main") == sha


def test_a_broken_ref_is_found_when_a_fetch_fails(remote: GitRemote, state_dir: Path) -> None:
    remote.commit({"a": "1"})
    mirror = fetched(remote, state_dir)
    (mirror.path / "refs" / "heads" / "main").write_text("garbage\n")
    new = remote.commit({"a": "2"})
    with pytest.raises(SourceError, match="corrupt \\(refs unreadable: .*broken ref"):
        mirror.fetch()
    mirror.fetch()  # cloned again
    assert mirror.resolve("main") == new


def test_lost_objects_come_back_with_the_next_fetch(remote: GitRemote, state_dir: Path) -> None:
    remote.commit({"a": "1"})
    mirror = fetched(remote, state_dir)
    shutil.rmtree(mirror.path / "objects")
    (mirror.path / "objects").mkdir()
    new = remote.commit({"a": "2"})
    mirror.fetch()  # git asks the remote for everything it lacks
    assert mirror.resolve("main") == new
    assert git.Repo(mirror.path).commit(new).tree["a"].data_stream.read() == b"2"


def test_quarantine_keeps_only_the_latest_copy(remote: GitRemote, state_dir: Path) -> None:
    remote.commit({"a": "1"})
    mirror = fetched(remote, state_dir)
    assert mirror.quarantine("test") is not None
    mirror.fetch()
    time.sleep(1.1)  # a distinct timestamp
    assert mirror.quarantine("test again") is not None
    assert len(list(mirror.path.parent.glob(mirror.path.name + ".corrupt-*"))) == 1
    assert mirror.quarantine("nothing there") is None


def test_repo_is_reopened_when_another_process_cloned_again(remote: GitRemote, state_dir: Path) -> None:
    sha = remote.commit({"a": "1"})
    mirror = fetched(remote, state_dir)
    before = mirror.repo
    other = Mirror(remote.url, state_dir)
    other.quarantine("test")
    other.fetch()
    assert mirror.repo is not before
    assert mirror.repo.commit(sha).hexsha == sha


# -- locking ---------------------------------------------------------------------------------

HOLDER = textwrap.dedent("""
    import sys
    from reconciler.sources.mirror import Mirror
    mirror = Mirror(sys.argv[1], sys.argv[2])
    with mirror.lock():
        print("locked", flush=True)
        sys.stdin.readline()
""")


def hold_lock(url: str, state_dir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, url, str(state_dir)], cwd=REPO, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_a_lock_held_by_another_process_blocks_fetch(remote: GitRemote, state_dir: Path) -> None:
    remote.commit({"a": "1"})
    mirror = Mirror(remote.url, state_dir)
    holder = hold_lock(remote.url, state_dir)
    try:
        with pytest.raises(SourceError, match="locked by another process"):
            with mirror.lock(timeout=0.3):
                pass
        assert not mirror.path.exists()  # nothing was fetched while locked
        releaser = threading.Timer(0.5, lambda: holder.communicate("\n"))
        releaser.start()
        started = time.monotonic()
        mirror.fetch()  # waits for the holder, then clones
        assert time.monotonic() - started >= 0.4
        releaser.join()
    finally:
        holder.kill()
        holder.wait()
    assert mirror.resolve("main") is not None


def test_the_lock_is_reentrant_within_one_mirror(remote: GitRemote, state_dir: Path) -> None:
    remote.commit({"a": "1"})
    mirror = Mirror(remote.url, state_dir)
    with mirror.lock():
        mirror.fetch()  # takes the lock again: no deadlock
        with pytest.raises(SourceError, match="locked by another process"):
            with Mirror(remote.url, state_dir).lock(timeout=0.2):  # another holder in this process
                pass


FETCHER = textwrap.dedent("""
    import sys
    from reconciler.sources.mirror import Mirror
    mirror = Mirror(sys.argv[1], sys.argv[2])
    for _ in range(5):
        mirror.fetch()
    print(mirror.resolve("main"))
""")


def test_processes_sharing_a_state_dir_never_collide(remote: GitRemote, state_dir: Path) -> None:
    sha = remote.commit({"a": "1"})
    procs = [subprocess.Popen([sys.executable, "-c", FETCHER, remote.url, str(state_dir)], cwd=REPO, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, outputs
    assert {out.strip() for out, _ in outputs} == {sha}
    mirrors = [p for p in (state_dir / "mirrors").iterdir() if not p.name.endswith(".lock")]
    assert len(mirrors) == 1
    assert git.Repo(mirrors[0]).bare
    assert os.path.exists(str(mirrors[0]) + ".lock")
