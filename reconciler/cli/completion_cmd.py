"""`reconciler completion bash|zsh|fish`: the shell completion script (argcomplete's), e.g.
`source <(reconciler completion bash)` in ~/.bashrc, or
`reconciler completion fish > ~/.config/fish/completions/reconciler.fish`."""

from __future__ import annotations

import argparse

from reconciler.cli.common import EXIT_OK

SHELLS = ("bash", "zsh", "fish")


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("completion", help="print the shell completion script (bash, zsh, fish)", description=__doc__)
    p.add_argument("shell", choices=SHELLS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from argcomplete import shell_integration

    print(shell_integration.shellcode(["reconciler"], shell=args.shell))
    return EXIT_OK
