#!/usr/bin/env python3
"""Generate a realistic, seeded soa-configs tree for benchmarks and differential tests.

    python benchmarks/gen_tree.py --out /tmp/soa --services 1000 --seed 7 \
        --clusters norcal-prod pnw-prod pnw-dev

Every service gets service.yaml, deploy.yaml, deployments.json (v2: deployments plus a
control per instance, some stopped, some with a force_bounce timestamp) and, per cluster,
kubernetes-<cluster>.yaml (a few eks-<cluster>.yaml instead) with about two instances on
average (2.05). Instances use a mix of the keys the spec supports (soa-configs.md section 3):
cpus, mem, disk, instances, cmd as a string or a list, args, env (also service-wide in
service.yaml, deep-merged), every healthcheck mode and key, bounce methods and margins,
autoscaling with cpu/memory providers, templates (`_shared: &shared` + `<<: *shared`),
persistent volumes, termination grace periods, deploy_group with {cluster}/{instance}/{service}
interpolation, and autotuned_defaults files.

Every config is valid for the spec and for PaaSTA 1.64; a few deploy groups are deliberately
left out of deployments.json (not deployed yet). The same seed gives the same tree, byte for
byte. Needs only the standard library and PyYAML (the project's own dependency).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
from typing import Any

import yaml

DEFAULT_CLUSTERS = ("norcal-prod", "pnw-prod", "pnw-dev")
DEFAULT_SEED = 20261124

WORDS = (
    "account", "ads", "auth", "billing", "booking", "cart", "catalog", "checkout", "coupon",
    "delivery", "feed", "geo", "gift", "image", "inbox", "invoice", "ledger", "listing", "login",
    "media", "menu", "notify", "order", "payment", "photo", "pricing", "profile", "promo",
    "rating", "receipt", "review", "search", "session", "ship", "signup", "social", "stats",
    "survey", "tax", "ticket", "token", "user", "video", "wallet", "waitlist", "yelp",
)
SUFFIXES = ("api", "service", "worker", "web", "backend", "gateway", "indexer", "sync", "batch")
INSTANCE_NAMES = (
    "main", "canary", "worker", "api", "web", "batch", "consumer", "cron_runner", "admin",
    "internal", "public_api", "queue_worker", "backfill", "grpc", "stream", "mirror", "replay",
    "shadow", "bulk_import", "search_v2",
)
ENV_VALUES = {
    "LOG_LEVEL": ("info", "debug", "warning"), "FEATURE_FLAGS": ("a,b,c", "new_checkout", ""),
    "WORKERS": ("2", "4", "8"), "TIMEOUT_SECONDS": ("5", "30", "120"),
    "REGION_HINT": ("us-west-1", "us-west-2"), "UPSTREAM_URL": ("http://upstream.local:8080",),
    "CACHE_TTL": ("60", "3600"), "DD_TRACE_ENABLED": ("true", "false"),
    "JAVA_OPTS": ("-Xmx512m -XX:+UseG1GC", "-Xms1g -Xmx1g"), "PYTHONUNBUFFERED": ("1",),
}
ENV_KEYS = tuple(ENV_VALUES)
COMMANDS = (
    "gunicorn -w 4 app:wsgi", "python -m {svc}.worker --queue default",
    "./bin/start.sh", "java -jar /app/{svc}.jar", "node dist/server.js",
    "uwsgi --ini /app/uwsgi.ini", "bundle exec puma -C config/puma.rb",
)
LIST_COMMANDS = (
    ["gunicorn", "-w", "2", "app:wsgi"], ["python", "-m", "{svc}.consumer"],
    ["/usr/bin/env", "bash", "-c", "exec ./run"], ["./server", "--port", "8888"],
)
ARGS = (["--queue", "emails", "--concurrency", "8"], ["--port", "8888"], ["serve"],
        ["--config", "/etc/{svc}/config.yaml", "--verbose"])
HEALTH_URIS = ("/status", "/health", "/healthz", "/ping", "/status?verbose=1")
HEALTH_CMDS = ("/bin/true", "curl -sf localhost:8888/status", "test -f /tmp/ready",
               "pgrep -f worker")
MARGINS = (0.5, 0.75, 0.9, 0.95, 1, 0.33, 0.8, 0.25, 0)
CPUS = (0.1, 0.1, 0.25, 0.25, 0.5, 0.5, 0.5, 0.7, 1, 1, 1, 1.5, 2, 2, 3, 4)
MEMS = (128, 256, 512, 512, 768, 1024, 1024, 1024, 1536, 2048, 2048, 3072, 4096, 8192, 1536.5)
DISKS = (256, 512, 1024, 2048, 4096, 10240)
BURSTS = (0, 0.5, 1, 2)
PORTS = (8080, 8000, 9090, 5000, 3000)


class Gen:
    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def chance(self, p: float) -> bool:
        return self.r.random() < p

    def pick(self, seq):  # type: ignore[no-untyped-def]
        return seq[self.r.randrange(len(seq))]

    def sha(self) -> str:
        return hashlib.sha1(str(self.r.random()).encode()).hexdigest()

    def timestamp(self) -> str:
        return (f"2026{self.r.randint(1, 11):02d}{self.r.randint(1, 28):02d}"
                f"T{self.r.randint(0, 23):02d}{self.r.randint(0, 59):02d}{self.r.randint(0, 59):02d}")


def service_names(g: Gen, n: int) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < n:
        sep = "_" if g.chance(0.25) else "-"
        name = f"{g.pick(WORDS)}{sep}{g.pick(SUFFIXES)}"
        if name in seen:
            name = f"{name}{len(names)}"
        if name in seen:
            continue
        seen.add(name)
        names.append(name)
    return names


def instance_count(g: Gen) -> int:
    """1..5 with a mean of about 2.05 instances per service per cluster."""
    x = g.r.random()
    return 1 if x < 0.45 else 2 if x < 0.70 else 3 if x < 0.85 else 4 if x < 0.95 else 5


def fmt(text: str, service: str) -> str:
    return text.replace("{svc}", service.replace("-", "_"))


def env_block(g: Gen, k: int) -> dict[str, str]:
    keys = g.r.sample(ENV_KEYS, k)
    return {key: g.pick(ENV_VALUES[key]) for key in keys}


def healthcheck(g: Gen, out: dict[str, Any]) -> None:
    mode = g.pick(("http", "http", "http", "https", "tcp", "tcp", "cmd"))
    out["healthcheck_mode"] = mode
    if mode in ("http", "https") and g.chance(0.5):
        out["healthcheck_uri"] = g.pick(HEALTH_URIS)
    if mode == "cmd":
        out["healthcheck_cmd"] = g.pick(HEALTH_CMDS)
    if g.chance(0.25):
        out["healthcheck_grace_period_seconds"] = g.pick((5, 15, 30, 120, 300))
    if g.chance(0.2):
        out["healthcheck_interval_seconds"] = g.pick((2, 5, 15, 30))
    if g.chance(0.2):
        out["healthcheck_timeout_seconds"] = g.pick((1, 2, 5, 20))
    if g.chance(0.2):
        out["healthcheck_max_consecutive_failures"] = g.pick((3, 6, 10, 60))


def instance_body(g: Gen, service: str, cluster: str, name: str, has_template: bool,
                  service_has_cmd: bool) -> dict[str, Any]:
    """One instance's own keys (the template and service.yaml may add more)."""
    out: dict[str, Any] = {}
    if g.chance(0.01):
        return out  # relies on every default
    if g.chance(0.85 if not has_template else 0.3):
        out["cpus"] = g.pick(CPUS)
    if g.chance(0.85 if not has_template else 0.3):
        out["mem"] = g.pick(MEMS)
    if g.chance(0.3):
        out["disk"] = g.pick(DISKS)
    if g.chance(0.12):
        out["cpu_burst_add"] = g.pick(BURSTS)
    if g.chance(0.18):
        low = g.r.randint(1, 5)
        if g.chance(0.85):
            out["min_instances"] = low
        out["max_instances"] = low + g.r.randint(0, 45)
        if g.chance(0.6):
            providers = g.pick((["cpu"], ["cpu"], ["memory"], ["cpu", "memory"]))
            out["autoscaling"] = {"metrics_providers": [
                {"type": p, "setpoint": g.pick((0.5, 0.6, 0.7, 0.75, 0.8, 0.9))}
                if g.chance(0.8) else {"type": p} for p in providers]}
    elif g.chance(0.92):
        out["instances"] = g.pick((0, 1, 1, 1, 2, 2, 3, 3, 4, 5, 6, 8, 10, 12, 20, 30, 50))
    if not service_has_cmd and not has_template:
        x = g.r.random()
        if x < 0.30:
            out["cmd"] = fmt(g.pick(COMMANDS), service)
        elif x < 0.45:
            out["cmd"] = [fmt(part, service) for part in g.pick(LIST_COMMANDS)]
        elif x < 0.60:
            out["args"] = [fmt(part, service) for part in g.pick(ARGS)]
    if g.chance(0.35):
        out["env"] = env_block(g, g.r.randint(1, 4))
    if not has_template and g.chance(0.6):
        healthcheck(g, out)
    if g.chance(0.25):
        out["bounce_method"] = g.pick(("crossover", "crossover", "brutal", "downthenup"))
    if g.chance(0.25):
        out["bounce_margin_factor"] = g.pick(MARGINS)
    if g.chance(0.1):
        out["bounce_health_params"] = {"min_task_uptime": g.pick((10, 30, 60, 120))}
    if g.chance(0.12):
        out["container_port"] = g.pick(PORTS)
    if g.chance(0.1):
        out["lifecycle"] = {"termination_grace_period_seconds": g.pick((30, 60, 120, 300, 600))}
    if g.chance(0.04):
        volumes = []
        for path in g.r.sample(("/var/lib/data", "/data", "/var/cache/app.d", "/srv/index_v2/",
                                "/opt/state"), g.r.randint(1, 2)):
            volume: dict[str, Any] = {"container_path": path, "size": g.pick((1, 5, 10, 20, 100))}
            if g.chance(0.7):
                volume["mode"] = g.pick(("RW", "RW", "RO"))
            if g.chance(0.5):
                volume["storage_class_name"] = g.pick(("ebs", "gp3", "ssd"))
            volumes.append(volume)
        out["persistent_volumes"] = volumes
        if g.chance(0.4):
            out["pod_management_policy"] = g.pick(("Parallel", "OrderedReady"))
    if g.chance(0.01):
        out["namespace"] = g.pick(("team-payments", "paasta-shared", "batch-jobs"))
    if g.chance(0.03):
        out["pool"] = g.pick(("batch", "highmem", "default"))
    return out


HABITATS = ("uswest1aprod", "uswest1bprod", "useast1cprod")
ROLES = ("arn:aws:iam::123456789012:role/{svc}", "arn:aws:iam::123456789012:role/shared_reader")


def extended_keys(g: Gen, service: str, out: dict[str, Any]) -> None:
    """Keys of soa-configs.md section 3a, each on a share of the instances, with values PaaSTA
    1.64 renders (the differential check, tools/paasta_diff.py, compares both renderings)."""
    if g.chance(0.15):
        out["extra_volumes"] = [{"hostPath": p, "containerPath": p, "mode": g.pick(("RO", "RW"))}
                                for p in g.r.sample(("/nail/srv/configs", "/nail/etc/services", "/tmp/scratch"),
                                                    g.r.randint(1, 2))]
    if g.chance(0.05):
        out["uses_bulkdata"] = True
    if g.chance(0.1):
        volume: dict[str, Any] = {"container_path": "/secrets/app", "secret_name": g.pick(("db_password", "api-key"))}
        if g.chance(0.5):
            volume["default_mode"] = g.pick(("0644", "0400"))
        if g.chance(0.3):
            volume["items"] = [{"key": volume["secret_name"], "path": "value", "mode": "0440"}]
        out["secret_volumes"] = [volume]
    if g.chance(0.08):
        out["projected_sa_volumes"] = [{"container_path": "/var/run/secrets/token", "audience": "sts.amazonaws.com",
                                        **({"expiration_seconds": 7200} if g.chance(0.5) else {})}]
    if g.chance(0.1) and "instances" not in out and "max_instances" not in out:
        out["aws_ebs_volumes"] = [{"volume_id": f"vol-{g.sha()[:17]}", "container_path": "/ebs",
                                   "mode": g.pick(("RO", "RW")), **({"fs_type": "xfs"} if g.chance(0.5) else {})}]
        out["bounce_method"] = "downthenup"
        out["instances"] = 1
    if g.chance(0.2):
        out["node_selectors"] = {"instance_type": g.pick(("m5.large", "c5.xlarge")),
                                 **({"habitat": list(g.r.sample(HABITATS, 2))} if g.chance(0.5) else {})}
    if g.chance(0.1):
        out["node_selectors_preferred"] = [{"weight": g.r.randint(1, 100),
                                            "preferences": {"instance_type": ["m5.large", "r5.2xlarge"]}}]
    if g.chance(0.1):
        out["deploy_whitelist"] = ["habitat", list(g.r.sample(HABITATS, 2))]
    if g.chance(0.1):
        out["deploy_blacklist"] = [["region", "uswest2-prod"]] + ([["habitat", "uswest1cprod"]] if g.chance(0.5) else [])
    if g.chance(0.1):
        out["anti_affinity"] = g.pick(({"service": service}, [{"service": service, "instance": "main"}]))
    if g.chance(0.1):
        out["topology_spread_constraints"] = [{"topology_key": g.pick(("topology.kubernetes.io/zone",
                                                                       "kubernetes.io/hostname")),
                                               **({"max_skew": 2} if g.chance(0.5) else {}),
                                               **({"when_unsatisfiable": "DoNotSchedule"} if g.chance(0.5) else {})}]
    if g.chance(0.08):
        out["service_account_name"] = f"{service.replace('_', '-')}-sa"
    if g.chance(0.1):
        out["iam_role"] = fmt(g.pick(ROLES), service)
        out["iam_role_provider"] = "aws"
    if g.chance(0.08):
        out["fs_group"] = g.pick((1000, 65534))
        if g.chance(0.5):
            out["fs_group_change_policy"] = g.pick(("Always", "OnRootMismatch"))
    if g.chance(0.08):
        out["cap_add"] = g.r.sample(["SYS_PTRACE", "NET_ADMIN", "SETUID"], g.r.randint(1, 2))
    if g.chance(0.05):
        out["gpus"] = g.r.randint(1, 2)
    if g.chance(0.1):
        lifecycle = dict(out.get("lifecycle") or {})
        x = g.r.random()
        if x < 0.4:
            lifecycle["pre_stop_command"] = g.pick(("/bin/drain", ["/bin/sh", "-c", "sleep 5"]))
        elif x < 0.7:
            lifecycle["pre_stop_drain_seconds"] = g.pick((5, 10, 30))
        else:
            lifecycle["pre_stop_wait_for_connections_to_complete"] = True
        out["lifecycle"] = lifecycle
    if g.chance(0.1):
        out["prometheus_port"] = g.pick((9100, 8888, 9117))
        if g.chance(0.5):
            out["prometheus_path"] = "/metrics"
    if g.chance(0.05):
        out["routable_ip"] = True
    if g.chance(0.05):
        out["prometheus_shard"] = "shard-a"
    if g.chance(0.05):
        out["host_port"] = 0
    if g.chance(0.05):
        out["cfs_period_us"] = 100000
    if "max_instances" in out and g.chance(0.6):
        kind = g.pick(("uwsgi", "uwsgi-v2", "piscina", "gunicorn", "active-requests", "arbitrary-promql",
                       "worker-load", "cpu"))
        provider: dict[str, Any] = {"type": kind}
        if g.chance(0.6):
            provider["setpoint"] = g.pick((0.5, 0.7, 0.8, 2.5))
        if kind in ("uwsgi", "uwsgi-v2", "piscina", "gunicorn", "worker-load") and g.chance(0.5):
            provider["moving_average_window_seconds"] = g.pick((120, 600, 1800))
        if kind == "active-requests":
            provider["desired_active_requests_per_replica"] = g.pick((1, 5, 10))
        if kind == "arbitrary-promql":
            provider["metrics_query"] = "sum(rate(requests_total[1m]))"
            if g.chance(0.5):
                provider["target_type"] = g.pick(("Value", "AverageValue"))
        if g.chance(0.1):
            provider["decision_policy"] = "bespoke"
        out["autoscaling"] = {"metrics_providers": [provider],
                              **({"scaledown_policies": {"stabilizationWindowSeconds": 600}} if g.chance(0.2) else {})}
    if g.chance(0.05):
        out["env"] = {**(out.get("env") or {}), "DB_PASSWORD": "SECRET(db_password)",
                      "SHARED_TOKEN": "SHARED_SECRET(token)"}


def template_body(g: Gen, service: str) -> dict[str, Any]:
    out: dict[str, Any] = {"cpus": g.pick(CPUS), "mem": g.pick(MEMS)}
    x = g.r.random()
    if x < 0.5:
        out["cmd"] = fmt(g.pick(COMMANDS), service)
    elif x < 0.7:
        out["cmd"] = [fmt(part, service) for part in g.pick(LIST_COMMANDS)]
    if g.chance(0.7):
        healthcheck(g, out)
    if g.chance(0.3):
        out["env"] = env_block(g, g.r.randint(1, 2))
    if g.chance(0.3):
        out["bounce_margin_factor"] = g.pick(MARGINS)
    return out


def dump(data: Any) -> str:
    return yaml.safe_dump(data, default_flow_style=False, sort_keys=False, width=200)


def indent(text: str, spaces: int = 2) -> str:
    pad = " " * spaces
    return "".join(pad + line if line.strip() else line for line in text.splitlines(True))


def instance_file(template: dict[str, Any] | None, instances: list[tuple[str, dict[str, Any], bool]]) -> str:
    """YAML text: an optional `_shared: &shared` template, then each instance."""
    parts = []
    if template is not None:
        parts.append("_shared: &shared\n" + indent(dump(template)))
    for name, body, uses_template in instances:
        if uses_template:
            own = indent(dump(body)) if body else ""
            parts.append(f"{name}:\n  <<: *shared\n{own}")
        elif not body:
            parts.append(f"{name}: {{}}\n")
        else:
            parts.append(f"{name}:\n" + indent(dump(body)))
    return "".join(parts)


def deploy_style(g: Gen) -> str:
    x = g.r.random()
    return ("env-groups" if x < 0.45 else "default" if x < 0.70 else
            "interpolated" if x < 0.90 else "per-service")


def deploy_group_for(g: Gen, style: str, service: str, cluster: str, instance: str) -> str | None:
    """The deploy_group key to write (None: the default `<cluster>.<instance>`)."""
    env = "prod" if cluster.endswith("prod") else "dev"
    if style == "env-groups":
        if instance == "canary":
            return f"{env}.canary"
        return f"{env}.everything"
    if style == "interpolated":
        return g.pick(("{cluster}.{instance}", "{cluster}.all", "{service}-{cluster}"))
    if style == "per-service":
        return f"{env}.{service.replace('_', '-')}"[:63]
    return None


def interpolate(template: str, service: str, cluster: str, instance: str) -> str:
    return template.replace("{cluster}", cluster).replace("{instance}", instance) \
        .replace("{service}", service)


def generate(out: str, services: int, seed: int, clusters: list[str], extended: bool = False) -> dict[str, Any]:
    """Write the tree under `out`; returns a summary (counts per cluster, services, ...)."""
    g = Gen(seed)
    extra = Gen(seed + 1) if extended else None  # its own stream: the base tree stays the same
    os.makedirs(out, exist_ok=True)
    summary: dict[str, Any] = {"services": services, "seed": seed, "clusters": clusters,
                               "instances": {c: 0 for c in clusters}, "not_deployed_groups": 0}
    for service in service_names(g, services):
        base = os.path.join(out, service)
        os.makedirs(base, exist_ok=True)
        style = deploy_style(g)

        svc: dict[str, Any] = {"description": f"The {service.replace('_', ' ')} service",
                               "git_url": f"git@git.example.com:services/{service}"}
        if g.chance(0.3):
            svc["cost_owner"] = g.pick(("payments", "growth", "infra", "search"))
        service_has_cmd = False
        if g.chance(0.25):
            svc["env"] = env_block(g, g.r.randint(1, 3))
        if g.chance(0.08):
            svc["cpus"] = g.pick(CPUS)
        if g.chance(0.08):
            svc["mem"] = g.pick(MEMS)
        if g.chance(0.05):
            svc["healthcheck_mode"] = "tcp"
        if g.chance(0.04):
            svc["cmd"] = fmt(g.pick(COMMANDS), service)
            service_has_cmd = True
        if g.chance(0.03):
            svc["docker_registry"] = g.pick(("docker-internal.example.com", "registry.corp.example.com:443"))

        groups: list[str] = []
        placed: list[tuple[str, str]] = []  # (cluster, instance)
        autotuned: dict[str, dict[str, Any]] = {}
        for cluster in clusters:
            n = instance_count(g)
            names = g.r.sample(INSTANCE_NAMES, n)
            if "main" not in names and g.chance(0.6):
                names[0] = "main"
            has_template = g.chance(0.25)
            template = template_body(g, service) if has_template else None
            template_has_cmd = template is not None and "cmd" in template
            entries = []
            for name in names:
                uses_template = has_template and g.chance(0.8)
                body = instance_body(g, service, cluster, name, uses_template,
                                     service_has_cmd or (uses_template and template_has_cmd))
                if extra is not None:
                    extended_keys(extra, service, body)
                group = deploy_group_for(g, style, service, cluster, name)
                if group is not None:
                    body["deploy_group"] = group
                groups.append(interpolate(group, service, cluster, name) if group
                              else f"{cluster}.{name}")
                entries.append((name, body, uses_template))
                placed.append((cluster, name))
                summary["instances"][cluster] += 1
            prefix = "eks" if g.chance(0.05) else "kubernetes"
            with open(os.path.join(base, f"{prefix}-{cluster}.yaml"), "w") as f:
                f.write(instance_file(template, entries))
            if g.chance(0.2):
                tuned = {}
                for name in names:
                    if g.chance(0.7):
                        entry: dict[str, Any] = {"cpus": g.pick((0.1, 0.2, 0.3, 0.6, 1.2)),
                                                 "mem": g.pick((300, 600, 1200, 2500))}
                        if g.chance(0.3):
                            entry["disk"] = g.pick((500, 1500))
                        tuned[name] = entry
                if tuned:
                    autotuned[cluster] = tuned

        if autotuned:
            os.makedirs(os.path.join(base, "autotuned_defaults"), exist_ok=True)
            for cluster, tuned in autotuned.items():
                with open(os.path.join(base, "autotuned_defaults", f"kubernetes-{cluster}.yaml"), "w") as f:
                    f.write(dump(tuned))

        with open(os.path.join(base, "service.yaml"), "w") as f:
            f.write(dump(svc))

        unique_groups = list(dict.fromkeys(groups))
        pipeline = [{"step": "itest"}] if g.chance(0.7) else []
        for group in sorted(unique_groups, key=lambda s: ("prod" in s, s)):
            step: dict[str, Any] = {"step": group}
            if "canary" in group and g.chance(0.5):
                step["wait_for_deployment"] = True
            pipeline.append(step)
        with open(os.path.join(base, "deploy.yaml"), "w") as f:
            f.write(dump({"pipeline": pipeline}))

        deployments: dict[str, Any] = {}
        for group in unique_groups:
            if g.chance(0.03):
                summary["not_deployed_groups"] += 1
                continue  # never marked for deployment
            sha = g.sha()
            version = None
            image = f"services-{service}:paasta-{sha}"
            if g.chance(0.04):
                version = f"{g.timestamp()}extra{g.r.randint(1, 9)}"
                image = f"{image}-{version}"
            deployments[group] = {"docker_image": image, "git_sha": sha, "image_version": version}
        # Like PaaSTA's own generator, a control entry for every instance: PaaSTA 1.64 treats
        # a missing one as "not deployed" (NoDeploymentsAvailable) where the spec says "start".
        controls: dict[str, Any] = {}
        for cluster, name in placed:
            x = g.r.random()
            key = f"{service}:{cluster}.{name}"
            if x < 0.04:
                controls[key] = {"desired_state": "stop", "force_bounce": None}
            elif x < 0.10:
                controls[key] = {"desired_state": "start", "force_bounce": g.timestamp()}
            else:
                controls[key] = {"desired_state": "start", "force_bounce": None}
        with open(os.path.join(base, "deployments.json"), "w") as f:
            json.dump({"v2": {"deployments": deployments, "controls": controls}}, f, indent=2,
                      sort_keys=True)
            f.write("\n")
    return summary


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--services", type=int, default=1000, help="number of services (default 1000)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    p.add_argument("--out", required=True, help="directory to write the tree into")
    p.add_argument("--clusters", nargs="+", default=list(DEFAULT_CLUSTERS),
                   help="cluster names (space- or comma-separated; default: %(default)s)")
    p.add_argument("--extended", action="store_true",
                   help="also use the keys of soa-configs.md section 3a (volumes, affinity, IAM roles, ...)")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    clusters = [c for item in args.clusters for c in item.split(",") if c]
    summary = generate(args.out, args.services, args.seed, clusters, args.extended)
    print(json.dumps(summary), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
