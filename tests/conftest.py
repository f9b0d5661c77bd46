"""Shared helpers: soa-configs trees written to temporary directories."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["tests.support.controlplane"]  # kube_controlplane, kube_namespace (the kube tier)

REPO = Path(__file__).resolve().parents[1]
SHA = "0123456789abcdef0123456789abcdef01234567"


def shared_dir() -> Path | None:
    """The workplace's shared/ folder (specs, compat fixtures), beside the checkout."""
    candidate = Path(os.environ.get("RECONCILER_SHARED_DIR", REPO.parent / "shared"))
    return candidate if candidate.is_dir() else None


def deployments_json(service: str, groups: dict[str, str] | None = None,
                     controls: dict[str, dict[str, Any]] | None = None) -> str:
    """deployments.json v2 text: each deploy group -> a git sha (default SHA)."""
    groups = groups if groups is not None else {}
    return json.dumps({"v2": {
        "deployments": {g: {"docker_image": f"services-{service}:paasta-{sha}", "git_sha": sha,
                            "image_version": None} for g, sha in groups.items()},
        "controls": controls or {},
    }})


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    """Write `relative path -> content` (text is dedented) under root; returns root."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content))
    return root


@pytest.fixture
def tree(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A function that writes files into a fresh soa-configs directory and returns its path."""
    root = tmp_path / "soa"
    root.mkdir()

    def make(files: dict[str, str | bytes]) -> Path:
        return write_tree(root, files)

    return make
