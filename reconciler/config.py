"""reconciler.yaml: loading, validation with clear errors, and typed settings (reconciler.md §1)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from reconciler.render.settings import DEFAULT_LABEL_DOMAIN, RenderSettings
from reconciler.soa.yamlparse import ParseError, parse_yaml

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_duration_schema = {"anyOf": [{"type": "number", "exclusiveMinimum": 0},
                              {"type": "string", "pattern": _DURATION.pattern}]}
_env_name = {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"}
_fraction = {"type": "number", "minimum": 0, "maximum": 1}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["clusters"],
    "properties": {
        "soa_configs": {
            "type": "object",
            "properties": {
                "repo": {"type": "string", "minLength": 1},
                "path": {"type": "string", "minLength": 1},
                "branch": {"type": "string", "minLength": 1},
                "deployments_branch": {"type": "string", "minLength": 1},
                "poll_interval": _duration_schema,
                "webhook_secret_env": _env_name,
            },
            "oneOf": [{"required": ["repo"]}, {"required": ["path"]}],
            "additionalProperties": False,
        },
        "service_repos": {
            "type": "object",
            "required": ["url_template"],
            "properties": {
                "url_template": {"type": "string", "pattern": r"\{service\}"},
                "generate_interval": _duration_schema,
                "parallelism": {"type": "integer", "minimum": 1, "maximum": 64},
            },
            "additionalProperties": False,
        },
        "clusters": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": r"^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$", "maxLength": 63},
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "kubeconfig": {"type": "string", "minLength": 1},
                    "context": {"type": "string", "minLength": 1},
                    "in_cluster": {"type": "boolean"},
                    "sim": {
                        "type": "object",
                        "required": ["state"],
                        "properties": {
                            "state": {"type": "string", "minLength": 1},
                            "pod_ready_seconds": {"type": "number", "minimum": 0},
                        },
                        "additionalProperties": False,
                    },
                    "docker_registry": {"type": "string", "minLength": 1},
                    "rollout": {
                        "type": "object",
                        "properties": {
                            "max_concurrent_bounces": {"type": "integer", "minimum": 1},
                            "max_unavailable_fraction": _fraction,
                            "bounces_per_minute": {"type": "integer", "minimum": 1},
                            "progress_deadline_seconds": {"type": "integer", "minimum": 1},
                        },
                        "additionalProperties": False,
                    },
                    "prune": {"type": "boolean"},
                    "max_prune_fraction": _fraction,
                    "heal_drift": {"type": "boolean"},
                    "allow_recreate": {"type": "boolean"},
                    "pdb_max_unavailable": {"anyOf": [{"type": "integer", "minimum": 0},
                                                      {"type": "string", "pattern": r"^\d{1,3}%$"}]},
                    "pool_node_label": {"type": "string", "minLength": 1},
                    "ignore_differences": {
                        "type": "object",
                        "additionalProperties": {"type": "array",
                                                 "items": {"type": "string", "pattern": "^/"}},
                    },
                },
                "additionalProperties": False,
            },
        },
        "label_domain": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"},
        "lease_namespace": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
        "state_dir": {"type": "string", "minLength": 1},
        "listen": {"type": "string", "pattern": r"^[^\s:]*:\d{1,5}$"},
        "notify": {
            "type": "object",
            "properties": {"url_env": _env_name},
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}


class ConfigError(ValueError):
    """reconciler.yaml is invalid; the message lists every problem with its key."""


def parse_duration(value: float | int | str) -> float:
    """Seconds from `15`, `15s`, `500ms`, `2m` or `1h`."""
    if isinstance(value, (int, float)):
        return float(value)
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"not a duration: {value!r}")
    number, unit = float(match.group(1)), match.group(2) or "s"
    return number * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


@dataclass(frozen=True)
class RolloutBudget:
    max_concurrent_bounces: int = 10
    max_unavailable_fraction: float = 0.1
    bounces_per_minute: int = 30
    progress_deadline_seconds: int = 600


@dataclass(frozen=True)
class ClusterConfig:
    name: str
    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool = False
    sim_state: str | None = None
    sim_pod_ready_seconds: float = 1.0
    docker_registry: str | None = None
    rollout: RolloutBudget = field(default_factory=RolloutBudget)
    prune: bool = False
    max_prune_fraction: float = 0.5
    heal_drift: bool = True
    allow_recreate: bool = False
    pdb_max_unavailable: int | str = 1
    pool_node_label: str | None = None
    ignore_differences: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def render_settings(self, label_domain: str) -> RenderSettings:
        return RenderSettings(
            cluster=self.name,
            docker_registry=self.docker_registry,
            label_domain=label_domain,
            pdb_max_unavailable=self.pdb_max_unavailable,
            pool_node_label=self.pool_node_label,
            progress_deadline_seconds=self.rollout.progress_deadline_seconds,
        )


@dataclass(frozen=True)
class SourceConfig:
    repo: str | None = None
    path: str | None = None
    branch: str = "main"
    deployments_branch: str = "deployments"
    poll_interval: float = 15.0
    webhook_secret_env: str | None = None


@dataclass(frozen=True)
class ServiceReposConfig:
    url_template: str
    generate_interval: float = 60.0
    parallelism: int = 8


@dataclass(frozen=True)
class Config:
    clusters: Mapping[str, ClusterConfig]
    soa_configs: SourceConfig | None = None
    service_repos: ServiceReposConfig | None = None
    label_domain: str = DEFAULT_LABEL_DOMAIN
    lease_namespace: str = "reconciler"
    state_dir: str = "~/.local/state/reconciler"
    listen: str = "127.0.0.1:8080"
    notify_url_env: str | None = None
    path: str | None = None

    def render_settings(self, cluster: str) -> RenderSettings:
        return self.clusters[cluster].render_settings(self.label_domain)


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
    if problems:
        raise ConfigError("\n".join(problems))
    return _typed(doc, Path(path).resolve().parent, path)


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
            heal_drift=bool(c.get("heal_drift", True)),
            allow_recreate=bool(c.get("allow_recreate", False)),
            pdb_max_unavailable=c.get("pdb_max_unavailable", 1),
            pool_node_label=c.get("pool_node_label"),
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
        notify_url_env=(doc.get("notify") or {}).get("url_env"),
        path=path,
    )


def load_config(path: str | os.PathLike[str]) -> Config:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_config(data, str(path))
