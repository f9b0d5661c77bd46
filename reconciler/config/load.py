"""Loading reconciler.yaml: validated against the schema with clear errors, then typed."""

from __future__ import annotations

import os
from datetime import timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reconciler.config.model import (
    ClusterConfig,
    Config,
    FreezeWindow,
    PromotionConfig,
    RolloutBudget,
    ServiceReposConfig,
    SourceConfig,
)
from reconciler.config.schema import CONFIG_SCHEMA, parse_duration
from reconciler.config.cron import trigger
from reconciler.render.settings import DEFAULT_LABEL_DOMAIN
from reconciler.soa.yamlparse import ParseError, parse_yaml


class ConfigError(ValueError):
    """reconciler.yaml is invalid; the message lists every problem with its key."""


def _expand(path: str, base: Path) -> str:
    expanded = Path(os.path.expanduser(path))
    return str(expanded if expanded.is_absolute() else base / expanded)


def _key_path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse_config(data: bytes, path: str = "reconciler.yaml") -> Config:
    """Validate and type a reconciler.yaml; raises ConfigError naming every bad key."""
    try:
        doc = parse_yaml(data)
    except ParseError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: must be a mapping at the top level")
    problems = []
    from jsonschema import Draft202012Validator  # only when a config is read: a slow import

    for err in sorted(Draft202012Validator(CONFIG_SCHEMA).iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        where = _key_path(err.absolute_path)
        if err.validator == "additionalProperties":
            known = set(err.schema.get("properties", {}))
            for key in err.instance:
                if key not in known:
                    problems.append(f"{path}: {where + '.' if err.absolute_path else ''}{key}: unknown key")
        elif err.validator == "oneOf" and where == "soa_configs":
            problems.append(f"{path}: soa_configs: set exactly one of 'repo' or 'path'")
        else:
            problems.append(f"{path}: {where}: {err.message}")
    for name, cluster in (doc.get("clusters") or {}).items():
        if isinstance(cluster, dict):
            targets = [k for k in ("kubeconfig", "in_cluster", "sim") if cluster.get(k)]
            if len(targets) != 1:
                problems.append(f"{path}: clusters.{name}: set exactly one of kubeconfig, "
                                f"in_cluster: true or sim (got {', '.join(targets) or 'none'})")
    problems.extend(_freeze_problems(doc, path))
    if problems:
        raise ConfigError("\n".join(problems))
    return _typed(doc, Path(path).resolve().parent, path)


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory of zones, such as "America"
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as UTC or Europe/Berlin)") from None


def _freeze_problems(doc: dict[str, Any], path: str) -> list[str]:
    """What the schema cannot say: time zones, cron schedules, cluster names, promotion's lease cluster."""
    problems = []
    zone: tzinfo = timezone.utc
    if isinstance(doc.get("time_zone"), str):
        try:
            zone = _zone(doc["time_zone"])
        except ValueError as exc:
            problems.append(f"{path}: time_zone: {exc}")
    raw_clusters = doc.get("clusters")
    clusters: dict[str, Any] = raw_clusters if isinstance(raw_clusters, dict) else {}
    names: set[Any] = set()
    for i, window in enumerate(doc.get("freezes") or []):
        if not isinstance(window, dict):
            continue
        name = window.get("name")
        if name in names:
            problems.append(f"{path}: freezes[{i}].name: {name!r} is used twice")
        names.add(name)
        if isinstance(window.get("schedule"), str):
            try:
                trigger(window["schedule"], zone)
            except ValueError as exc:
                problems.append(f"{path}: freezes[{i}].schedule: {exc}")
        for cluster in window.get("clusters") or []:
            if cluster not in clusters:
                problems.append(f"{path}: freezes[{i}].clusters: no cluster {cluster!r} is configured")
    promotion = doc.get("promotion")
    lease = promotion.get("lease_cluster") if isinstance(promotion, dict) else None
    if lease is not None and lease not in clusters:
        problems.append(f"{path}: promotion.lease_cluster: no cluster {lease!r} is configured")
    return problems


def _promotion(raw: Any) -> PromotionConfig:
    if isinstance(raw, bool):
        return PromotionConfig(enabled=raw)
    if isinstance(raw, dict):
        return PromotionConfig(enabled=bool(raw.get("enabled", True)), lease_cluster=raw.get("lease_cluster"),
                               interval=parse_duration(raw.get("interval", 5)))
    return PromotionConfig()


def _windows(raw: list[dict[str, Any]]) -> tuple[FreezeWindow, ...]:
    return tuple(FreezeWindow(w["name"], w["schedule"], parse_duration(w["duration"]),
                              frozenset(w["clusters"]) if "clusters" in w else None,
                              frozenset(w["services"]) if "services" in w else None,
                              frozenset(w.get("allow") or ())) for w in raw)


def _typed(doc: dict[str, Any], base: Path, path: str) -> Config:
    clusters = {}
    for name, c in doc["clusters"].items():
        sim = c.get("sim") or {}
        clusters[name] = ClusterConfig(
            name=name,
            kubeconfig=_expand(c["kubeconfig"], base) if c.get("kubeconfig") else None,
            context=c.get("context"),
            in_cluster=bool(c.get("in_cluster")),
            sim_state=_expand(sim["state"], base) if sim else None,
            sim_pod_ready_seconds=float(sim.get("pod_ready_seconds", 1.0)),
            docker_registry=c.get("docker_registry"),
            rollout=RolloutBudget(**(c.get("rollout") or {})),
            prune=bool(c.get("prune", False)),
            max_prune_fraction=float(c.get("max_prune_fraction", 0.5)),
            prune_window=parse_duration(c.get("prune_window", 3600)),
            heal_drift=bool(c.get("heal_drift", True)),
            show_env_values=bool(c.get("show_env_values", False)),
            allow_recreate=bool(c.get("allow_recreate", False)),
            pdb_max_unavailable=c.get("pdb_max_unavailable", 1),
            pool_node_label=c.get("pool_node_label"),
            allowed_namespaces=tuple(c.get("allowed_namespaces", ("paastasvc-*",))),
            location_label_prefix=c.get("location_label_prefix", "yelp.com"),
            allowed_service_accounts=tuple(c.get("allowed_service_accounts", ("*",))),
            ignore_differences={k: tuple(v) for k, v in (c.get("ignore_differences") or {}).items()},
        )
    source = None
    if "soa_configs" in doc:
        s = doc["soa_configs"]
        source = SourceConfig(
            repo=s.get("repo"),
            path=_expand(s["path"], base) if s.get("path") else None,
            branch=s.get("branch", "main"),
            deployments_branch=s.get("deployments_branch", "deployments"),
            poll_interval=parse_duration(s.get("poll_interval", 15)),
            webhook_secret_env=s.get("webhook_secret_env"),
        )
    repos = None
    if "service_repos" in doc:
        r = doc["service_repos"]
        repos = ServiceReposConfig(r["url_template"], parse_duration(r.get("generate_interval", 60)),
                                   int(r.get("parallelism", 8)))
    return Config(
        clusters=clusters,
        soa_configs=source,
        service_repos=repos,
        label_domain=doc.get("label_domain", DEFAULT_LABEL_DOMAIN),
        lease_namespace=doc.get("lease_namespace", "reconciler"),
        state_dir=_expand(doc.get("state_dir", "~/.local/state/reconciler"), base),
        listen=doc.get("listen", "127.0.0.1:8080"),
        auth_token_env=(doc.get("auth") or {}).get("token_env"),
        allow_unauthenticated=bool(doc.get("allow_unauthenticated", False)),
        max_body_bytes=int(doc.get("max_body_bytes", 1024 * 1024)),
        client_timeout=parse_duration(doc.get("client_timeout", 30)),
        notify_url_env=(doc.get("notify") or {}).get("url_env"),
        redact_key_env=doc.get("redact_key_env"),
        edit_managers=tuple((doc.get("drift") or {}).get("edit_managers", Config.edit_managers)),
        promotion=_promotion(doc.get("promotion")),
        freezes=_windows(doc.get("freezes") or []),
        time_zone=doc.get("time_zone", "UTC"),
        path=path,
    )


def load_config(path: str | os.PathLike[str]) -> Config:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_config(data, str(path))
