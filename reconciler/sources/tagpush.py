"""Pushing new timestamped tags (deploy and control tags) to a service repository.

Tags are lightweight, as PaaSTA pushes them: a ref straight to a commit the remote already has,
pushed from the service repository's mirror (which must hold the commit). Pushes never force: a
tag of the same name (pushed in the same second) is left alone and the next second is used. A
new tag must be later than the newest tag it is to win over: equal timestamps would not say
which is newer, so the push waits for the next second when needed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone

from reconciler.sources.deployments_branch import push_refs
from reconciler.sources.errors import SourceError
from reconciler.sources.mirror import Mirror
from reconciler.sources.tags import REF_PREFIX, format_timestamp

ATTEMPTS = 3


def _now() -> datetime:
    return datetime.now(timezone.utc)


class TagCollision(SourceError):
    """A tag of that name exists on the remote (someone pushed in the same second)."""


def push_tags(mirror: Mirror, tags_at: Callable[[str], Mapping[str, str]], newest: str | None, *,
              warn: Callable[[str], None] | None = None, attempts: int = ATTEMPTS) -> list[str]:
    """Push the tags `tags_at(timestamp)` names (tag name -> commit) in one atomic push, for the
    current second, which must be later than `newest`; the names pushed. A clock far behind the
    newest tag is reported through `warn`; without `warn` it is an error (a tag that cannot win
    is not pushed). A name taken on the remote is tried again the next second, `attempts` times
    in all (TagCollision after the last)."""
    for _ in range(attempts):
        stamp = format_timestamp(_now())
        if newest is not None and stamp <= newest:
            time.sleep(1.0 - time.time() % 1.0 + 0.01)
            stamp = format_timestamp(_now())
            if stamp <= newest:
                problem = (f"a tag dated {newest} (UTC) already exists, later than now ({stamp}): a clock is wrong "
                           "somewhere")
                if warn is None:
                    raise SourceError(f"{problem}; not pushing a tag that would not win over it")
                warn(f"{problem}, and this tag will not win over it")
        tags = dict(tags_at(stamp))
        if push_refs(mirror, {f"{REF_PREFIX}{name}": sha for name, sha in tags.items()}):
            return sorted(tags)
        newest = stamp  # a name exists already: wait for the next second
    raise TagCollision(f"could not push new tags to {mirror.safe_url}: tag names kept colliding")
