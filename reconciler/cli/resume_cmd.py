"""`reconciler resume SERVICE.INSTANCE --cluster C`: lift a halted train without a git change.

The halt is read from the cluster (a failed rollout of the workload, or the failed-config-sha a
rollback wrote), so lifting it is a mark on the workload: a `resumed-config-sha` annotation
written under a field manager of its own (the reconciler's applies neither own nor remove it).
It lifts the halt of that config_sha once: a later failed rollout of it halts the train again.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from typing import Any

from reconciler.cli.common import (
    DOCUMENT_FORMATS,
    EXIT_DIFFERENCES,
    EXIT_ERROR,
    EXIT_OK,
    UsageError,
    emit_document,
    err,
    maybe_config,
    unknown,
)
from reconciler.cluster.errors import ClusterError
from reconciler.cluster.factory import connect
from reconciler.engine.health import FAILED
from reconciler.engine.marks import (
    FAILED_CONFIG_SHA,
    RESUME_MANAGER,
    RESUMED_CONFIG_SHA,
)
from reconciler.engine.train import resume_mark
from reconciler.reconcile.cycle import policy_for
from reconciler.reconcile.observe import read_health


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("resume", help="lift a halted train (failed rollout) without a git change",
                       description="Lift the halt a failed rollout of SERVICE.INSTANCE put on its deploy "
                                   "group's train on one cluster: the held bounces go on at the next cycle, "
                                   "and a rolled-back instance is rolled forward again. Exit 0 when a halt "
                                   "was lifted, 1 when there was none, 2 on error.")
    p.add_argument("target", metavar="SERVICE.INSTANCE")
    p.add_argument("--cluster", required=True)
    p.add_argument("--config", required=True, help="reconciler.yaml")
    p.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = maybe_config(args.config)
    assert config is not None  # --config is required
    service, _, instance = args.target.partition(".")
    if not service or not instance:
        raise UsageError(f"expected SERVICE.INSTANCE, got {args.target!r}")
    unknown("cluster", [args.cluster], config.clusters, args.config)
    settings = config.clusters[args.cluster]
    policy = policy_for(settings, config.label_domain, config.lease_namespace)
    selector = f"{policy.managed_selector},{policy.key('service')}={service},{policy.key('instance')}={instance}"
    now = datetime.now(timezone.utc)
    lifted: list[dict[str, Any]] = []
    try:
        backend = connect(settings)
        try:
            workloads = [w for kind in ("Deployment", "StatefulSet") for w in backend.list(kind, selector=selector)]
            health = read_health(backend, workloads, policy, now=now)
            for obj in workloads:
                meta = obj["metadata"]
                running = policy.label(obj, "config_sha")
                failed = policy.annotation(obj, FAILED_CONFIG_SHA)
                rolled_back = failed is not None and failed != running
                if not rolled_back:
                    state = health.get((obj["kind"], meta.get("namespace"), meta["name"]))
                    failed = running if state is not None and state.state == FAILED else None
                if failed is None:
                    continue
                backend.apply({"apiVersion": obj["apiVersion"], "kind": obj["kind"],
                               "metadata": {"name": meta["name"], "namespace": meta.get("namespace"),
                                            "annotations": {policy.key(RESUMED_CONFIG_SHA): resume_mark(failed, now)}}},
                              field_manager=RESUME_MANAGER)
                lifted.append({"kind": obj["kind"], "namespace": meta.get("namespace"), "name": meta["name"],
                               "failed_config_sha": failed, "rolled_back": rolled_back})
        finally:
            backend.close()
    except ClusterError as exc:
        err(f"cluster {args.cluster}: {exc}")
        return EXIT_ERROR
    if args.output in DOCUMENT_FORMATS:
        emit_document({"cluster": args.cluster, "service": service, "instance": instance, "resumed": lifted},
                      args.output)
    elif not lifted:
        print(f"{service}.{instance} on {args.cluster}: no halted rollout to resume")
    for item in lifted if args.output == "table" else ():
        then = ("the next cycle rolls it forward to it again" if item["rolled_back"]
                else "its deploy group's held bounces go on at the next cycle")
        print(f"resumed {item['kind']} {item['namespace']}/{item['name']} on {args.cluster}: the halt on "
              f"config_sha {item['failed_config_sha']} is lifted; {then}")
    return EXIT_OK if lifted else EXIT_DIFFERENCES
