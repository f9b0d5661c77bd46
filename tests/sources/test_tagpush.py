"""Pushing timestamped tags: several in one atomic push, never forced, later than the newest."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import git

from reconciler.sources.generate import list_tags
from reconciler.sources.mirror import Mirror
from reconciler.sources.tagpush import push_tags
from reconciler.sources.tags import format_timestamp, parse_deploy_tag
from tests.support.gitremote import GitRemote


def test_tags_of_one_decision_go_in_one_push_and_a_taken_name_moves_to_the_next_second(tmp_path: Path) -> None:
    remote = GitRemote(tmp_path, "web")
    sha = remote.commit({"README": "x\n"})
    mirror = Mirror(remote.url, tmp_path / "state")
    mirror.fetch()
    pushed = push_tags(mirror, lambda stamp: {f"paasta-a-{stamp}-deploy": sha, f"paasta-b-{stamp}-deploy": sha}, None)
    assert len(pushed) == 2 and set(list_tags(remote.url)) == set(pushed)
    stamps = {parse_deploy_tag(n).timestamp for n in pushed if parse_deploy_tag(n)}  # type: ignore[union-attr]
    assert len(stamps) == 1  # one second for both

    # a tag named for the next second exists already on the remote (on another commit) for one of
    # the two: that push is refused as a whole (nothing half-done) and made again a second later
    next_second = format_timestamp(datetime.strptime(max(stamps), "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)
                                   + timedelta(seconds=1))
    taken = f"paasta-b-{next_second}-deploy"
    other = remote.commit({"README": "y\n"})
    remote.tag(taken, other)
    again = push_tags(mirror, lambda stamp: {f"paasta-a-{stamp}-deploy": sha, f"paasta-b-{stamp}-deploy": sha},
                      max(stamps))
    tags = list_tags(remote.url)
    assert set(again) <= set(tags) and tags[taken] == other
    assert f"paasta-a-{next_second}-deploy" not in tags  # never half a push
    assert len({parse_deploy_tag(n).timestamp for n in again}) == 1  # type: ignore[union-attr]
    assert all(parse_deploy_tag(n).timestamp > max(stamps) for n in again)  # type: ignore[union-attr]
    assert git.Repo(mirror.path).git.rev_parse(f"refs/tags/{again[0]}") == sha  # the mirror knows them too
