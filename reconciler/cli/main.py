"""Entry point: `reconciler <command> ...`."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from typing import TextIO, cast

from reconciler import __version__
from reconciler.cli import (
    completion_cmd,
    config_cmd,
    deploy_cmd,
    diff_cmd,
    drift_cmd,
    freeze_cmd,
    generate_cmd,
    history_cmd,
    plan_cmd,
    promote_cmd,
    refresh_cmd,
    render_cmd,
    resume_cmd,
    run_cmd,
    sim_cmd,
    validate_cmd,
    wait_cmd,
)
from reconciler.cli.common import EXIT_ERROR, ScrubbedStream, UsageError, err


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reconciler",
        description="GitOps reconciler for soa-configs repositories on Kubernetes.")
    parser.add_argument("--version", action="version", version=f"reconciler {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    validate_cmd.add_parser(sub)
    render_cmd.add_parser(sub)
    sim_cmd.add_parser(sub)
    plan_cmd.add_parsers(sub)
    diff_cmd.add_parser(sub)
    history_cmd.add_parsers(sub)
    wait_cmd.add_parser(sub)
    refresh_cmd.add_parser(sub)
    drift_cmd.add_parsers(sub)
    resume_cmd.add_parser(sub)
    run_cmd.add_parser(sub)
    generate_cmd.add_parser(sub)
    deploy_cmd.add_parsers(sub)
    promote_cmd.add_parser(sub)
    freeze_cmd.add_parsers(sub)
    completion_cmd.add_parser(sub)
    config_cmd.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    out, error_stream = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = cast(TextIO, ScrubbedStream(out)), cast(TextIO, ScrubbedStream(error_stream))
    # One-shot commands build plenty of short-lived, acyclic data: the cycle collector would
    # only walk it again and again (about a tenth of a full render).
    gc.disable()
    try:
        parser = build_parser()
        if "_ARGCOMPLETE" in os.environ:  # a shell asking for completions (reconciler completion SHELL)
            import argcomplete

            argcomplete.autocomplete(parser)
        args = parser.parse_args(argv)
        return int(args.func(args))
    except UsageError as exc:
        err(str(exc))
        return EXIT_ERROR
    except BrokenPipeError:  # `reconciler render ... | head`
        sys.stderr.close()
        return 0
    finally:
        gc.enable()
        sys.stdout, sys.stderr = out, error_stream


if __name__ == "__main__":
    sys.exit(main())
