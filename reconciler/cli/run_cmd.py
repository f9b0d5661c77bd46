"""`reconciler run [--config F]`: the daemon. Without a config: the embedded default (the bundled
soa-configs-template/ on an embedded simulated cluster), to see the reconciler work at once."""

from __future__ import annotations

import argparse
import gc

from reconciler.cli.common import (
    TEMPLATE_DIR,
    UsageError,
    config_or_default,
    worker_count,
)


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("run", help="run the daemon (without --config: the embedded default)",
                       description="Poll the sources, reconcile every cluster, serve /metrics, the report "
                                   "page and the JSON API until SIGTERM. Without --config it runs the bundled "
                                   "soa-configs-template/ on an embedded simulated cluster.")
    p.add_argument("--config", help="reconciler.yaml (default: the embedded default)")
    p.add_argument("--listen", help="HOST:PORT for HTTP (default: the config's `listen`, 127.0.0.1:8080)")
    p.add_argument("--reconcile-interval", type=float, metavar="SECONDS",
                   help="how often each cluster is reconciled (default: the poll interval)")
    p.add_argument("--resync-interval", type=float, default=300.0, metavar="SECONDS",
                   help="how often every object is compared field by field (default 300)")
    p.add_argument("--identity", help="this replica's name in leases (default: host-pid)")
    p.add_argument("--lease-duration", type=float, default=15.0, metavar="SECONDS",
                   help="how long a lease holds without renewal (default 15)")
    p.add_argument("--renew-deadline", type=float, default=10.0, metavar="SECONDS",
                   help="stop writing this long after the last renewal began (default 10; "
                        "under lease-duration minus the request timeout)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from reconciler.daemon import logs
    from reconciler.daemon.app import Daemon, Timing, serve
    from reconciler.daemon.http import ListenError

    gc.enable()  # main() turns it off for one-shot commands; a daemon must collect
    config = config_or_default(args.config)
    assert config is not None
    logs.setup()
    if args.renew_deadline >= args.lease_duration:
        raise UsageError("--renew-deadline must be shorter than --lease-duration")
    if config.soa_configs is None:
        raise UsageError(f"{args.config}: soa_configs is not set: it says where soa-configs are")
    try:
        daemon = Daemon(config, timing=Timing(reconcile_interval=args.reconcile_interval,
                                          resync_interval=args.resync_interval,
                                          lease_duration=args.lease_duration, renew_deadline=args.renew_deadline,
                                          retry_period=min(2.0, args.renew_deadline / 3)),
                        identity=args.identity, listen=args.listen, workers=worker_count())
    except ListenError as exc:
        raise UsageError(str(exc)) from None
    if not args.config:
        print(f"reconciler: embedded default: {TEMPLATE_DIR} on a simulated cluster "
              f"({config.clusters['local'].sim_state})", flush=True)
    serve(daemon, config_path=args.config, on_start=lambda: print(f"reconciler: report page at http://{daemon.server.address}/ "
                                         "(JSON at /api/v1/drift, metrics at /metrics)", flush=True))
    return 0
