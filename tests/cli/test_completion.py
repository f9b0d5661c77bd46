"""Shell completion: the scripts for bash, zsh and fish, and the completions they ask for."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.mark.parametrize("shell, needle", [("bash", "complete "), ("zsh", "compdef"), ("fish", "complete ")])
def test_a_script_per_shell(shell: str, needle: str) -> None:
    out = subprocess.run([sys.executable, "-m", "reconciler.cli.main", "completion", shell], capture_output=True,
                         text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0 and "reconciler" in out.stdout and needle in out.stdout


def complete(line: str) -> list[str]:
    """What the shell script gets back for `line` (argcomplete's protocol: answers on fd 8),
    from the installed `reconciler` command next to this interpreter."""
    env = {**os.environ, "_ARGCOMPLETE": "1", "COMP_LINE": line, "COMP_POINT": str(len(line)), "_ARGCOMPLETE_IFS": "\n"}
    command = Path(sys.executable).parent / "reconciler"
    out = subprocess.run(["bash", "-c", f"'{command}' 8>&1 9>/dev/null"], env=env, cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    return [w.strip() for w in out.stdout.split("\n") if w.strip()]


def test_commands_and_options_complete() -> None:
    assert complete("reconciler dif") == ["diff"]
    assert set(complete("reconciler diff --ba")) == {"--base", "--base-dir"}
    assert {"bash", "zsh", "fish"} <= set(complete("reconciler completion "))
