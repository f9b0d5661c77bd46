"""`reconciler config example`: a commented reconciler.yaml with every key, to start from."""

from __future__ import annotations

import argparse
import sys

from reconciler.cli.common import EXIT_OK, TEMPLATE_DIR, UsageError

EXAMPLE = TEMPLATE_DIR / "reconciler.yaml.example"


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("config", help="print an example reconciler.yaml", description=__doc__)
    p.add_argument("action", choices=("example",))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        sys.stdout.write(EXAMPLE.read_text())
    except OSError as exc:
        raise UsageError(f"the example is missing ({EXAMPLE}: {exc.strerror})") from None
    return EXIT_OK
