"""Shared git fixtures (the helpers themselves live in tests/support/gitremote.py).

Fixtures: `make_remote` (a factory: `make_remote("name")`), `remote` (one remote named
soa-configs) and `state_dir` (an empty state directory).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.gitremote import GitRemote


@pytest.fixture
def make_remote(tmp_path: Path) -> Callable[..., GitRemote]:
    """`make_remote(name="soa-configs")`: a new empty bare remote under tmp_path/remotes."""
    base = tmp_path / "remotes"
    base.mkdir(exist_ok=True)

    def make(name: str = "soa-configs") -> GitRemote:
        return GitRemote(base, name)

    return make


@pytest.fixture
def remote(make_remote: Callable[..., GitRemote]) -> GitRemote:
    return make_remote()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir()
    return path
