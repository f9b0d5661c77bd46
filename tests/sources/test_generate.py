"""The deployments generator against real bare repositories: tags in, commits out."""

from __future__ import annotations

import json
import socket
import textwrap
import time
from pathlib import Path
from typing import Any

import git
import pytest

from reconciler.sources.deployments_branch import DeploymentsBranch, Identity
from reconciler.sources.directory import DirectoryTree
from reconciler.sources.errors import SourceError
from reconciler.sources.generate import GenerateResult, generate, list_tags, read_tags
from reconciler.sources.mirror import Mirror
from tests.support.gitremote import IDENTITY, GitRemote

T1, T2, T3, T4 = "20240101T000000", "20240102T000000", "20240103T000000", "20240104T000000"


def log(remote: GitRemote, branch: str) -> list[git.Commit]:
    return list(git.Repo(remote.bare).iter_commits(f"refs/heads/{branch}"))


def show(remote: GitRemote, branch: str, path: str) -> str:
    return str(git.Repo(remote.bare).git.show(f"refs/heads/{branch}:{path}", strip_newline_in_stdout=False))


def changed_paths(remote: GitRemote, sha: str) -> list[str]:
    out = git.Repo(remote.bare).git.diff_tree("--no-commit-id", "--name-only", "-r", "--root", sha)
    return sorted(out.split())


SOA_FILES = {
    "alpha/deploy.yaml": "pipeline: [{step: canary}, {step: prod}]\n",
    "alpha/kubernetes-c1.yaml": """\
        main: {deploy_group: prod}
        canary: {deploy_group: canary}
        """,
    "alpha/kubernetes-c2.yaml": "main: {deploy_group: prod}\n",
    "beta/kubernetes-c1.yaml": "main: {}\n",         # deploy group c1.main
    "gamma/kubernetes-c1.yaml": "main: {}\n",        # never deployed
}


class World:
    """Two service repositories, a soa-configs directory and the soa-configs remote."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        (tmp / "services").mkdir()
        self.template = (tmp / "services").as_uri() + "/{service}.git"
        self.alpha = GitRemote(tmp / "services", "alpha")
        self.beta = GitRemote(tmp / "services", "beta")
        GitRemote(tmp / "services", "gamma").commit()
        self.soa_dir = tmp / "soa"
        self.write_soa(SOA_FILES)
        self.soa = GitRemote(tmp, "soa-configs")
        self.soa.commit({"README": "soa-configs\n"})
        self.state = tmp / "state"
        self.a1 = self.alpha.commit()
        self.a2 = self.alpha.commit()
        self.b1 = self.beta.commit()

    def write_soa(self, files: dict[str, str]) -> None:
        for rel, content in files.items():
            path = self.soa_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(content))

    def branch(self) -> DeploymentsBranch:
        return DeploymentsBranch(Mirror(self.soa.url, self.state), "deployments")

    def run(self, branch: DeploymentsBranch | None = None, **kw: Any) -> GenerateResult:
        return generate(DirectoryTree(self.soa_dir), branch or self.branch(), self.template, **kw)

    def doc(self, service: str) -> Any:
        return json.loads(show(self.soa, "deployments", f"{service}/deployments.json"))


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def deployed(world: World, service: str) -> dict[str, str]:
    return {g: e["git_sha"] for g, e in world.doc(service)["v2"]["deployments"].items()}


def controls(world: World, service: str) -> dict[str, tuple[str, str | None]]:
    return {k: (v["desired_state"], v["force_bounce"]) for k, v in world.doc(service)["v2"]["controls"].items()}


def test_first_run_creates_the_branch_with_one_commit(world: World) -> None:
    world.alpha.tag(f"paasta-prod-{T1}-deploy", world.a1)
    world.alpha.tag(f"paasta-canary+v7-{T2}-deploy", world.a2, annotated=True)
    world.beta.tag(f"paasta-c1.main-{T1}-deploy", world.b1)

    result = world.run()

    assert result.errors == {} and result.commit is not None and result.base is None
    history = log(world.soa, "deployments")
    assert [c.hexsha for c in history] == [result.commit]
    commit = history[0]
    assert (commit.author.name, commit.author.email) == ("reconciler", "reconciler@localhost")
    assert changed_paths(world.soa, result.commit) == ["alpha/deployments.json", "beta/deployments.json"]
    assert world.doc("alpha") == {"v2": {
        "deployments": {
            "canary": {"docker_image": f"services-alpha:paasta-{world.a2}-v7", "git_sha": world.a2,
                       "image_version": "v7"},
            "prod": {"docker_image": f"services-alpha:paasta-{world.a1}", "git_sha": world.a1,
                     "image_version": None},
        },
        "controls": {
            "alpha:c1.canary": {"desired_state": "start", "force_bounce": None},
            "alpha:c1.main": {"desired_state": "start", "force_bounce": None},
            "alpha:c2.main": {"desired_state": "start", "force_bounce": None},
        },
    }}
    raw = show(world.soa, "deployments", "beta/deployments.json")
    assert raw == json.dumps(world.doc("beta"), indent=2, sort_keys=True) + "\n"
    assert {c.service for c in result.changed} == {"alpha", "beta"}
    assert len(log(world.soa, "main")) == 1  # the soa-configs branch itself is untouched


def test_nothing_new_makes_no_commit(world: World) -> None:
    world.alpha.tag(f"paasta-prod-{T1}-deploy", world.a1)
    first = world.run()
    again = world.run()
    assert again.commit is None and again.changed == [] and again.base == first.commit
    assert len(log(world.soa, "deployments")) == 1


def test_nothing_deployed_anywhere_writes_nothing(world: World) -> None:
    result = world.run()
    assert result.commit is None and world.soa.tip("deployments") is None


def test_a_new_deploy_tag_changes_only_that_service(world: World) -> None:
    world.alpha.tag(f"paasta-prod-{T1}-deploy", world.a1)
    world.beta.tag(f"paasta-c1.main-{T1}-deploy", world.b1)
    first = world.run()
    world.alpha.tag(f"paasta-prod-{T2}-deploy", world.a2)

    result = world.run()

    assert result.commit is not None
    assert [c.hexsha for c in log(world.soa, "deployments")] == [result.commit, first.commit]
    assert changed_paths(world.soa, result.commit) == ["alpha/deployments.json"]
    assert deployed(world, "alpha") == {"prod": world.a2}
    assert [(c.service, c.changes[0]) for c in result.changed] == \
        [("alpha", f"prod: {world.a2[:8]} (was {world.a1[:8]})")]
    assert log(world.soa, "deployments")[0].message.startswith("deployments: alpha\n")


def test_an_older_deploy_tag_pushed_later_does_not_win(world: World) -> None:
    world.alpha.tag(f"paasta-prod-{T2}-deploy", world.a2)
    world.alpha.tag(f"paasta-prod-{T1}-deploy", world.a1)
    world.run()
    assert deployed(world, "alpha") == {"prod": world.a2}


def test_controls_follow_the_deployed_sha(world: World) -> None:
    world.alpha.tag(f"paasta-prod-{T1}-deploy", world.a1)
    world.run()

    world.alpha.tag(f"paasta-c1.main-{T2}-stop", world.a1)           # on the deployed sha
    world.alpha.tag(f"paasta-c2.main-{T3}-stop", world.a2)           # on another sha: ignored
    world.run()
    assert controls(world, "alpha") == {"alpha:c1.main": ("stop", None), "alpha:c2.main": ("start", None)}

    world.alpha.tag(f"paasta-prod-{T3}-deploy", world.a2)            # a new sha undoes the stop ...
    world.run()
    # ... and the stop issued earlier against a2 (older than nothing else on a2) now counts
    assert controls(world, "alpha") == {"alpha:c1.main": ("start", None), "alpha:c2.main": ("stop", None)}

    world.alpha.tag(f"paasta-c2.main-{T4}-start", world.a2)          # restart: a new force_bounce
    world.run()
    assert controls(world, "alpha")["alpha:c2.main"] == ("start", T4)


def test_an_unreachable_repository_keeps_its_file_and_is_reported(world: World) -> None:
    world.alpha.tag(f"paasta-prod-{T1}-deploy", world.a1)
    world.beta.tag(f"paasta-c1.main-{T1}-deploy", world.b1)
    world.run()
    before = world.doc("beta")
    world.beta.move_away()
    world.alpha.tag(f"paasta-prod-{T2}-deploy", world.a2)

    result = world.run()

    assert set(result.errors) == {"beta"} and "cannot list tags" in result.errors["beta"]
    assert world.doc("beta") == before
    assert deployed(world, "alpha") == {"prod": world.a2}
    assert changed_paths(world.soa, result.commit or "") == ["alpha/deployments.json"]


def test_a_failing_repository_alone_makes_no_commit(world: World) -> None:
    world.beta.tag(f"paasta-c1.main-{T1}-deploy", world.b1)
    world.run()
    world.beta.move_away()
    result = world.run()
    assert result.commit is None and set(result.errors) == {"beta"}
    assert deployed(world, "beta") == {"c1.main": world.b1}


def test_a_concurrent_push_is_refetched_and_both_commits_kept(world: World) -> None:
    world.alpha.tag(f"paasta-prod-{T1}-deploy", world.a1)
    first = world.run()
    other = git.Repo.clone_from(world.soa.url, world.tmp / "other-writer", env=IDENTITY)
    other.git.checkout("-B", "deployments", "origin/deployments")

    def someone_else_pushes() -> str:
        (world.tmp / "other-writer" / "NOTES").write_text("hello\n")
        other.git.add("NOTES")
        other.git.commit("-m", "someone else", env=IDENTITY)
        other.git.push("origin", "deployments")
        return str(other.head.commit.hexsha)

    class Racing(DeploymentsBranch):
        raced: list[str] = []

        def push(self, sha: str) -> bool:
            if not self.raced:  # someone else pushes between our fetch and our push
                self.raced.append(someone_else_pushes())
            return super().push(sha)

    world.alpha.tag(f"paasta-prod-{T2}-deploy", world.a2)
    result = world.run(Racing(Mirror(world.soa.url, world.state), "deployments"))

    assert result.attempts == 2 and result.commit is not None
    history = log(world.soa, "deployments")
    assert [c.hexsha for c in history] == [result.commit, Racing.raced[0], first.commit]
    assert all(len(c.parents) <= 1 for c in history)  # linear
    assert show(world.soa, "deployments", "NOTES") == "hello\n"
    assert deployed(world, "alpha") == {"prod": world.a2}


def test_a_concurrent_identical_commit_leaves_nothing_to_do(world: World) -> None:
    world.alpha.tag(f"paasta-prod-{T1}-deploy", world.a1)
    elsewhere = Mirror(world.soa.url, world.tmp / "other-state")

    class Racing(DeploymentsBranch):
        def push(self, sha: str) -> bool:
            if elsewhere.path.exists():
                return super().push(sha)
            replica = DeploymentsBranch(elsewhere, "deployments", identity=Identity("replica-2"))
            racer = world.run(replica)  # a second replica, with the same tags
            assert racer.commit is not None
            return super().push(sha)

    result = world.run(Racing(Mirror(world.soa.url, world.state), "deployments"))
    assert result.commit is None and result.attempts == 2
    assert len(log(world.soa, "deployments")) == 1


def test_a_branch_that_keeps_moving_is_given_up(world: World) -> None:
    world.alpha.tag(f"paasta-prod-{T1}-deploy", world.a1)

    class Refused(DeploymentsBranch):
        def push(self, sha: str) -> bool:
            return False

    with pytest.raises(SourceError, match="gave up after 3 attempts"):
        world.run(Refused(Mirror(world.soa.url, world.state), "deployments"), attempts=3)


def test_other_files_on_the_branch_are_kept(world: World) -> None:
    world.soa.commit({"README.md": "deployments\n"}, "deployments")
    world.alpha.tag(f"paasta-prod-{T1}-deploy", world.a1)
    result = world.run()
    assert result.base is not None
    assert show(world.soa, "deployments", "README.md") == "deployments\n"


def test_only_the_named_services(world: World) -> None:
    world.alpha.tag(f"paasta-prod-{T1}-deploy", world.a1)
    world.beta.tag(f"paasta-c1.main-{T1}-deploy", world.b1)
    result = world.run(services=["beta", "nope"])
    assert [c.service for c in result.changed] == ["beta"]
    assert result.errors == {"nope": "no such service in soa-configs"}
    assert changed_paths(world.soa, result.commit or "") == ["beta/deployments.json"]


def test_config_errors_keep_what_cannot_be_recomputed(world: World) -> None:
    world.alpha.tag(f"paasta-prod-{T1}-deploy", world.a1)
    world.alpha.tag(f"paasta-canary-{T1}-deploy", world.a1)
    world.run()
    world.write_soa({"alpha/kubernetes-c1.yaml": """\
        main: {deploy_group: prod}
        canary: {deploy_group: canary, cpus: lots}
        """})
    world.alpha.tag(f"paasta-prod-{T2}-deploy", world.a2)

    result = world.run()

    assert deployed(world, "alpha") == {"prod": world.a2, "canary": world.a1}
    assert "alpha:c1.canary" in controls(world, "alpha")
    assert any("alpha: soa-configs have errors" in w for w in result.warnings)


def test_a_silent_server_times_out(tmp_path: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)  # accepts connections, never answers
    try:
        port = server.getsockname()[1]
        started = time.monotonic()
        tags, errors = read_tags(["one", "two"], f"git://127.0.0.1:{port}/{{service}}.git", 2, timeout=1)
        assert tags == {} and set(errors) == {"one", "two"}
        assert time.monotonic() - started < 10
        with pytest.raises(SourceError, match="cannot list tags of git://127.0.0.1"):
            list_tags(f"git://127.0.0.1:{port}/x.git", timeout=0.5)
    finally:
        server.close()


def test_identity_can_be_configured(world: World) -> None:
    world.alpha.tag(f"paasta-prod-{T1}-deploy", world.a1)
    branch = DeploymentsBranch(Mirror(world.soa.url, world.state), "deployments",
                               identity=Identity.from_env({"GIT_AUTHOR_NAME": "Bot",
                                                           "GIT_AUTHOR_EMAIL": "bot@example.com"}))
    world.run(branch)
    commit = log(world.soa, "deployments")[0]
    assert (commit.author.email, commit.committer.email) == ("bot@example.com", "bot@example.com")


def test_the_mirror_follows_its_own_push(world: World) -> None:
    world.alpha.tag(f"paasta-prod-{T1}-deploy", world.a1)
    mirror = Mirror(world.soa.url, world.state)
    result = world.run(DeploymentsBranch(mirror, "deployments"))
    assert mirror.resolve("deployments") == result.commit
