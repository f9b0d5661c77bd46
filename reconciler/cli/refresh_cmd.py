"""`reconciler refresh [--cluster C]`: ask a running daemon to poll the sources and compare every
field of its clusters now (`POST /api/v1/refresh`; the page's "refresh now" button does the
same). Cycles are cluster-wide, so a refresh is too."""

from __future__ import annotations

import argparse

from reconciler.cli.common import EXIT_OK
from reconciler.cli.drift_cmd import ask_server


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("refresh", help="make a running daemon poll git and reconcile now", description=__doc__)
    p.add_argument("--server", default="http://127.0.0.1:8080",
                   help="the daemon (default http://127.0.0.1:8080; $RECONCILER_API_TOKEN is sent if set)")
    p.add_argument("--cluster", action="append", help="only this cluster (repeatable; default: all)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    doc = ask_server(args.server, "/api/v1/refresh", [("cluster", c) for c in args.cluster or ()], method="POST")
    print(f"refreshing {', '.join(doc.get('refreshing') or [])}: the sources are polled and every field "
          "compared now")
    return EXIT_OK
