#!/usr/bin/env python3
"""Render every kubernetes/eks instance of a soa-configs tree with PaaSTA's own code.

Run it with the interpreter of a virtualenv that has paasta-tools installed (never the
project's own: PaaSTA is not a dependency of the project), e.g.

    /work/paasta-venv/bin/python benchmarks/paasta_render.py \
        --soa-dir /work/shared/compat/soa-configs --cluster norcal-prod --cluster pnw-dev \
        --docker-registry registry.example.com --all > paasta.jsonl

stdout: one JSON line per instance, in the format of shared/compat/expected.jsonl:
    {"cluster", "instance", "object", "service"}          (keys sorted)
    {"cluster", "error": "<ExceptionClass>: message", "instance", "service"}
An instance whose deploy group has no deployments.json entry gets
"NoDeploymentsAvailable: ..." as its error.

stderr: the rendering time (after interpreter start-up and imports) in total and per
instance, and as the last line a machine-readable summary:
    paasta_render: {"instances": N, "seconds": S, "ms_per_instance": M, ...}
With --per-instance-times each instance's own time is printed as well.

The system paasta configuration (PAASTA_SYSTEM_CONFIG_DIR) is written to a temporary
directory: the docker registry, the cluster, and autotuned_defaults enabled for kubernetes
(eks instances read autotuned_defaults/kubernetes-<cluster>.yaml, as the spec says).
Nothing is read from /etc/paasta and nothing goes to the network.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time

INSTANCE_FILE = re.compile(r"^(kubernetes|eks)-(.+)\.yaml$")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--soa-dir", required=True, help="the soa-configs directory")
    p.add_argument("--cluster", action="append", default=[],
                   help="cluster to render (repeatable, or comma-separated); "
                        "default: every cluster that has an instance file")
    p.add_argument("--docker-registry", required=True, help="registry prefix of images")
    p.add_argument("--all", action="store_true",
                   help="every service (the default; accepted for symmetry with `reconciler render`)")
    p.add_argument("--service", action="append", default=[],
                   help="only these services (repeatable)")
    p.add_argument("--per-instance-times", action="store_true",
                   help="also print each instance's rendering time to stderr")
    p.add_argument("--format", choices=("expected", "actual"), default="expected",
                   help="expected (default): {..., \"object\": {...}} as in shared/compat/"
                        "expected.jsonl; actual: {..., \"objects\": [{...}]} as `reconciler "
                        "render -o jsonl` writes, to pass PaaSTA's output to compare.py as ACTUAL")
    p.add_argument("--hpa", action="store_true",
                   help='also write each Deployment\'s HorizontalPodAutoscaler as PaaSTA computes it ("hpa": '
                        'the object or null, "hpa_error" when PaaSTA raises)')
    p.add_argument("--system-config", metavar="JSON",
                   help="extra keys merged into the temporary system paasta config")
    return p.parse_args(argv)


def clusters_in_tree(soa_dir: str, services: list[str]) -> list[str]:
    found: set[str] = set()
    for service in services:
        try:
            names = os.listdir(os.path.join(soa_dir, service))
        except OSError:
            continue
        for name in names:
            m = INSTANCE_FILE.match(name)
            if m:
                found.add(m.group(2))
    return sorted(found)


def list_services(soa_dir: str) -> list[str]:
    return sorted(
        name for name in os.listdir(soa_dir)
        if not name.startswith(".") and os.path.isdir(os.path.join(soa_dir, name))
    )


def write_system_config(directory: str, registry: str, cluster: str, extra: dict) -> None:
    config = {
        "cluster": cluster,
        "docker_registry": registry,
        "volumes": [],
        "hacheck_sidecar_volumes": [],
        "auto_config_instance_types_enabled": {"kubernetes": True},
        "auto_config_instance_type_aliases": {"eks": "kubernetes"},
    }
    config.update(extra)
    # One file per cluster, the others removed: PaaSTA caches the parsed config by
    # (file name, stat), so a new name guarantees the new cluster's settings are read.
    for old in os.listdir(directory):
        os.remove(os.path.join(directory, old))
    with open(os.path.join(directory, f"bench-{cluster or 'none'}.json"), "w") as f:
        json.dump(config, f)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    soa_dir = args.soa_dir  # as given: PaaSTA's messages quote it (keep fixtures relocatable)
    services = args.service or list_services(soa_dir)
    clusters = [c for given in args.cluster for c in given.split(",") if c] \
        or clusters_in_tree(soa_dir, services)
    extra = json.loads(args.system_config) if args.system_config else {}

    # PaaSTA reads PAASTA_SYSTEM_CONFIG_DIR when paasta_tools.utils is imported, so the
    # directory must exist (with the first cluster's config) before the imports below.
    config_dir = tempfile.mkdtemp(prefix="paasta-system-config-")
    write_system_config(config_dir, args.docker_registry, clusters[0] if clusters else "", extra)
    os.environ["PAASTA_SYSTEM_CONFIG_DIR"] = config_dir

    import logging
    import warnings

    warnings.filterwarnings("ignore", message="clog is unavailable")
    logging.disable(logging.WARNING)  # PaaSTA warns (e.g. unsupported storage class) per instance

    from kubernetes.client import ApiClient
    from paasta_tools.eks_tools import load_eks_service_config_no_cache
    from paasta_tools.kubernetes_tools import KubernetesDeploymentConfig
    from paasta_tools.kubernetes_tools import load_kubernetes_service_config_no_cache
    from paasta_tools.utils import get_service_instance_list

    def autoscaled_instances_offline(self: KubernetesDeploymentConfig) -> int:
        # PaaSTA asks the live cluster for the current replica count of an autoscaled
        # workload. Offline there is none: answer as for a workload not created yet,
        # which starts at min_instances (what expected.jsonl shows, and what the spec's
        # initial replicas are). Replicas of autoscaled workloads are not compared anyway.
        return self.get_min_instances()

    KubernetesDeploymentConfig.get_autoscaled_instances = autoscaled_instances_offline

    import paasta_tools.kubernetes_tools as kubernetes_tools

    def secret_hashes_offline(**_: object) -> dict[str, str]:
        # SECRET() env values make PaaSTA read each Secret's signature from the cluster, for its
        # config hash only (never compared). Offline there is no cluster: no signatures.
        return {}

    kubernetes_tools.get_kubernetes_secret_hashes = secret_hashes_offline

    loaders = {"kubernetes": load_kubernetes_service_config_no_cache,
               "eks": load_eks_service_config_no_cache}
    serialize = ApiClient().sanitize_for_serialization
    out = sys.stdout
    timings: list[tuple[float, str]] = []

    started = time.perf_counter()
    for cluster in clusters:
        write_system_config(config_dir, args.docker_registry, cluster, extra)
        for service in services:
            for instance_type, load in loaders.items():
                t0 = time.perf_counter()
                try:
                    pairs = get_service_instance_list(
                        service, cluster=cluster, instance_type=instance_type, soa_dir=soa_dir)
                except Exception as exc:  # a file PaaSTA cannot read at all
                    record = {"service": service, "instance": None, "cluster": cluster,
                              "error": f"{type(exc).__name__}: {exc}"}
                    out.write(json.dumps(record, sort_keys=True) + "\n")
                    continue
                listing = time.perf_counter() - t0
                share = listing / len(pairs) if pairs else 0.0
                for _service, instance in pairs:
                    t0 = time.perf_counter()
                    record = {"service": service, "instance": instance, "cluster": cluster}
                    try:
                        config = load(service, instance, cluster, load_deployments=True,
                                      soa_dir=soa_dir)
                        obj = serialize(config.format_kubernetes_app())
                        if args.format == "actual":
                            record["objects"] = [obj]
                        else:
                            record["object"] = obj
                        if args.hpa:
                            try:  # setup_kubernetes_job attaches one to Deployments only
                                hpa = config.get_autoscaling_metric_spec(
                                    name=config.get_sanitised_deployment_name(), cluster=cluster,
                                    kube_client=None, namespace=config.get_namespace())
                                record["hpa"] = serialize(hpa) if hpa and obj["kind"] == "Deployment" else None
                            except Exception as exc:
                                record["hpa_error"] = f"{type(exc).__name__}: {exc}"
                    except Exception as exc:
                        record["error"] = f"{type(exc).__name__}: {exc}"
                    out.write(json.dumps(record, sort_keys=True) + "\n")
                    timings.append((time.perf_counter() - t0 + share,
                                    f"{service}.{instance}@{cluster}"))
    out.flush()
    elapsed = time.perf_counter() - started
    shutil.rmtree(config_dir, ignore_errors=True)

    n = len(timings)
    if args.per_instance_times:
        for seconds, name in timings:
            print(f"paasta_render: {name} {seconds * 1000:.3f} ms", file=sys.stderr)
    per = sorted(s for s, _ in timings)
    summary = {
        "instances": n,
        "seconds": round(elapsed, 4),
        "ms_per_instance": round(elapsed * 1000 / n, 4) if n else None,
        "median_ms": round(per[n // 2] * 1000, 4) if n else None,
        "max_ms": round(per[-1] * 1000, 4) if n else None,
        "clusters": clusters,
    }
    print(f"paasta_render: rendered {n} instances in {elapsed:.3f} s "
          f"({summary['ms_per_instance']} ms per instance; start-up and imports excluded)",
          file=sys.stderr)
    print("paasta_render: " + json.dumps(summary), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
