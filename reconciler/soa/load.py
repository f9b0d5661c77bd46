"""From a service's raw files to validated, typed instance configs for one cluster (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from reconciler.soa.deployments import parse_deployments
from reconciler.soa.files import ServiceFiles, autotuned_file_name, instance_file_names
from reconciler.soa.issues import Issue, error, warning
from reconciler.soa.merge import deep_merge
from reconciler.soa.pipeline import DeployStep, deploy_steps, parse_pipeline
from reconciler.soa.model import (
    DEFAULT_SETPOINT,
    PROMQL_SETPOINT,
    Deployments,
    Healthcheck,
    InstanceConfig,
    MetricsProvider,
    NodeRequirement,
    PersistentVolume,
)
from reconciler.soa.schema import EXTENDED_PROPERTIES, SERVICE_LEVEL_KEYS, SUPPORTED_KEYS
from reconciler.soa.validate import InstanceContext, validate_instance
from reconciler.soa.yamlparse import ParseError, parse_yaml

INSTANCE_NAME = re.compile(r"^([a-z0-9]|[a-z0-9][a-z0-9_-]*[a-z0-9])$")
_INTERPOLATION = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class InstanceResult:
    """One instance on one cluster: its config when valid, and everything found about it."""

    service: str
    instance: str
    cluster: str
    source: str
    config: InstanceConfig | None
    issues: tuple[Issue, ...] = ()

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.is_error]


@dataclass(frozen=True)
class ServiceLoad:
    """A service on one cluster: its instances, its deployments and file-level findings."""

    service: str
    cluster: str
    instances: tuple[InstanceResult, ...]
    issues: tuple[Issue, ...] = ()
    deployments: Deployments = field(default_factory=Deployments)
    deployments_error: str | None = None
    pipeline: tuple[DeployStep, ...] | None = None
    docker_registry: str | None = None


def _parse_mapping(files: ServiceFiles, name: str, issues: list[Issue]) -> tuple[dict[str, Any] | None, bool]:
    """Parse a YAML mapping file: (content or None when absent, whether it failed)."""
    service = files.service
    path = f"{service}/{name}"
    if name in files.unreadable:
        issues.append(error(path, files.unreadable[name], service=service))
        return None, True
    data = files.files.get(name)
    if data is None:
        return None, False
    try:
        doc = parse_yaml(data)
    except ParseError as exc:
        issues.append(error(path, str(exc), service=service))
        return None, True
    if doc is None:
        issues.append(warning(path, "empty file", service=service))
        return {}, False
    if not isinstance(doc, dict):
        issues.append(error(path, f"must be a mapping at the top level (got {type(doc).__name__})",
                            service=service))
        return None, True
    bad_keys = [k for k in doc if not isinstance(k, str)]
    if bad_keys:
        issues.append(error(path, f"top-level keys must be strings (got {bad_keys[0]!r}; quote it)",
                            service=service))
        return None, True
    return doc, False


def _service_defaults(files: ServiceFiles, issues: list[Issue]) -> tuple[dict[str, Any], str | None, bool]:
    """service.yaml split into instance defaults and the registry override."""
    doc, failed = _parse_mapping(files, "service.yaml", issues)
    path = f"{files.service}/service.yaml"
    defaults: dict[str, Any] = {}
    registry: str | None = None
    for key, value in (doc or {}).items():
        if key in SERVICE_LEVEL_KEYS:
            if key == "docker_registry":
                if isinstance(value, str) and value:
                    registry = value
                else:
                    issues.append(error(path, "must be a non-empty string", service=files.service,
                                        key=key))
                    failed = True
        elif key in SUPPORTED_KEYS:
            defaults[key] = value
        elif not key.startswith("_"):
            issues.append(warning(path, "unknown service-level key, ignored", service=files.service,
                                  key=key))
    return defaults, registry, failed


def _pipeline(files: ServiceFiles, issues: list[Issue]) -> tuple[tuple[DeployStep, ...] | None, bool]:
    """deploy.yaml's pipeline (None without the file), and whether the file has an error: the
    instances then cannot be rendered (their rollback and promotion rules come from it)."""
    doc, failed = _parse_mapping(files, "deploy.yaml", issues)
    if doc is None:
        return None, failed
    steps, found = parse_pipeline(doc, f"{files.service}/deploy.yaml", files.service)
    issues.extend(found)
    return steps, failed or steps is None


def _deployments(files: ServiceFiles) -> tuple[Deployments, str | None]:
    if "deployments.json" in files.unreadable:
        return Deployments(), files.unreadable["deployments.json"]
    data = files.files.get("deployments.json")
    if data is None:
        return Deployments(), None
    try:
        return parse_deployments(data), None
    except ParseError as exc:
        return Deployments(), str(exc)


def interpolate_deploy_group(template: str, service: str, instance: str, cluster: str) -> str:
    """Fill `{cluster}`, `{instance}` and `{service}`; any other placeholder is an error."""
    facts = {"cluster": cluster, "instance": instance, "service": service}

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in facts:
            raise ValueError(f"unknown placeholder {{{name}}}: only {{cluster}}, {{instance}} "
                             "and {service} are interpolated")
        return facts[name]

    out = _INTERPOLATION.sub(fill, template)
    if "{" in out or "}" in out:
        raise ValueError(f"unbalanced braces in {template!r}")
    return out


def load_service(files: ServiceFiles, cluster: str | None) -> ServiceLoad:
    """Load, merge and validate every instance of `files.service` on `cluster`.

    With `cluster` None only the service-wide files are read (for services with no instances).
    """
    service = files.service
    issues: list[Issue] = []
    defaults, registry, service_failed = _service_defaults(files, issues)
    pipeline, pipeline_failed = _pipeline(files, issues)
    deployments, deployments_error = _deployments(files)
    if deployments_error:
        issues.append(error(f"{service}/deployments.json", deployments_error, service=service))

    if cluster is None:
        return ServiceLoad(service, "", (), tuple(issues), deployments, deployments_error,
                           pipeline, registry)
    auto_name = autotuned_file_name(cluster)
    autotuned, auto_failed = _parse_mapping(files, auto_name, issues)
    blocked_by = {}  # file -> why it stops every instance
    for name, failed in (("service.yaml", service_failed), ("deploy.yaml", pipeline_failed), (auto_name, auto_failed)):
        path = f"{service}/{name}"
        if failed:
            blocked_by[path] = "; ".join(f"{i.key}: {i.message}" if i.key else i.message
                                         for i in issues if i.is_error and i.file == path) or "invalid"

    sources: dict[str, tuple[str, Any]] = {}
    duplicates: set[str] = set()
    for name in instance_file_names(cluster):
        doc, failed = _parse_mapping(files, name, issues)
        for instance, raw in (doc or {}).items():
            if instance.startswith("_"):
                continue  # a template for anchors, never an instance
            if instance in sources:
                duplicates.add(instance)
            sources.setdefault(instance, (f"{service}/{name}", raw))

    results = []
    for instance, (source, raw) in sources.items():
        results.append(_load_instance(
            service, instance, cluster, source, raw, defaults, (autotuned or {}).get(instance),
            registry, pipeline, blocked_by, instance in duplicates,
        ))
    return ServiceLoad(service, cluster, tuple(results), tuple(issues), deployments,
                       deployments_error, pipeline, registry)


def _load_instance(
    service: str, instance: str, cluster: str, source: str, raw: Any,
    defaults: Mapping[str, Any], autotuned: Any, registry: str | None,
    pipeline: tuple[DeployStep, ...] | None, blocked_by: Mapping[str, str], duplicate: bool,
) -> InstanceResult:
    def failed(*found: Issue) -> InstanceResult:
        return InstanceResult(service, instance, cluster, source, None, tuple(found))

    where = {"service": service, "instance": instance, "cluster": cluster}
    if not INSTANCE_NAME.match(instance) or len(instance) > 63:
        return failed(error(source, "invalid instance name: lower-case letters, digits, '_' and "
                                    "'-', starting and ending with a letter or digit, at most 63",
                            **where))
    if duplicate:
        return failed(error(source, f"defined in both kubernetes-{cluster}.yaml and "
                                    f"eks-{cluster}.yaml", **where))
    if blocked_by:
        return failed(*(error(f, f"{why}; so this instance cannot be rendered", **where)
                        for f, why in blocked_by.items()))
    if raw is None:  # `main:` with nothing after it; PaaSTA refuses it too
        return failed(error(source, "has no value: write `{}` to take every default", **where))
    if not isinstance(raw, dict):
        return failed(error(source, f"must be a mapping of keys (got {type(raw).__name__})", **where))
    auto_file = f"{service}/{autotuned_file_name(cluster)}"
    if autotuned is not None and not isinstance(autotuned, dict):
        return failed(error(auto_file, "entry must be a mapping", **where))

    layers = [(f"{service}/service.yaml", defaults), (auto_file, autotuned or {}), (source, raw)]
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for path, layer in layers:
        merged = deep_merge(merged, layer)
        origins.update((k, path) for k in layer)

    ctx = InstanceContext(service, instance, cluster, origins, source)
    issues = validate_instance(merged, ctx)
    group = merged.get("deploy_group", "{cluster}.{instance}")
    if not any(i.is_error for i in issues):
        try:
            group = interpolate_deploy_group(group, service, instance, cluster)
        except ValueError as exc:
            issues.append(ctx.error(str(exc), "deploy_group"))
    if any(i.is_error for i in issues):
        return failed(*issues)
    if pipeline is not None and group not in {s.step for s in deploy_steps(pipeline)}:
        issues.append(ctx.warning(f"deploy group {group!r} is not a step of deploy.yaml's pipeline",
                                  "deploy_group"))
    config = build_config(service, instance, cluster, source, group, merged, registry)
    return InstanceResult(service, instance, cluster, source, config, tuple(issues))


def build_config(service: str, instance: str, cluster: str, source: str, deploy_group: str,
                 c: Mapping[str, Any], registry: str | None) -> InstanceConfig:
    """The typed config from a merged, validated mapping (defaults from soa-configs.md §3)."""
    mode = c.get("healthcheck_mode")
    healthcheck = None if mode is None else Healthcheck(
        mode=mode,
        uri=c.get("healthcheck_uri", "/status"),
        cmd=c.get("healthcheck_cmd"),
        grace_period_seconds=int(c.get("healthcheck_grace_period_seconds", 60)),
        interval_seconds=int(c.get("healthcheck_interval_seconds", 10)),
        timeout_seconds=int(c.get("healthcheck_timeout_seconds", 10)),
        max_consecutive_failures=int(c.get("healthcheck_max_consecutive_failures", 30)),
    )
    cmd = c.get("cmd")
    autoscaling = c.get("autoscaling") or {}
    providers = tuple(MetricsProvider(p["type"], p.get("setpoint", PROMQL_SETPOINT if p["type"] == "arbitrary-promql"
                                                       else DEFAULT_SETPOINT),
                                      p.get("decision_policy"), p.get("moving_average_window_seconds"),
                                      p.get("target_type", "AverageValue"))
                      for p in autoscaling.get("metrics_providers") or ())
    selectors: list[tuple[str, str]] = []
    requirements: list[NodeRequirement] = []
    for key, value in sorted((c.get("node_selectors") or {}).items()):
        if isinstance(value, str):
            selectors.append((key, value))
        elif all(isinstance(v, str) for v in value):
            requirements.append(NodeRequirement(key, "In", tuple(value)))
        else:
            for req in value:
                values = req.get("values", [req["value"]] if "value" in req else [])
                requirements.append(NodeRequirement(key, req["operator"], tuple(map(str, values))))
    lifecycle = c.get("lifecycle") or {}
    grace = lifecycle.get("termination_grace_period_seconds")
    return InstanceConfig(
        service=service,
        instance=instance,
        cluster=cluster,
        source=source,
        deploy_group=deploy_group,
        cpus=c.get("cpus", 1),
        cpu_burst_add=c.get("cpu_burst_add", 1),
        mem=c.get("mem", 4096),
        disk=c.get("disk", 1024),
        instances=int(c.get("instances", 1)),
        min_instances=int(c.get("min_instances", 1)),
        max_instances=int(c["max_instances"]) if "max_instances" in c else None,
        cmd=tuple(cmd) if isinstance(cmd, list) else cmd,
        args=tuple(c.get("args") or ()),
        env=tuple((k, v) for k, v in (c.get("env") or {}).items()),
        bounce_method=c.get("bounce_method", "crossover"),
        bounce_margin_factor=c.get("bounce_margin_factor", 0.95),
        bounce_margin_factor_explicit="bounce_margin_factor" in c,
        min_task_uptime=int((c.get("bounce_health_params") or {}).get("min_task_uptime", 0)),
        container_port=int(c.get("container_port", 8888)),
        healthcheck=healthcheck,
        termination_grace_period_seconds=None if grace is None else int(grace),
        persistent_volumes=tuple(
            PersistentVolume(v["container_path"], int(v["size"]), v.get("mode", "RO") == "RO",
                             v.get("storage_class_name"))
            for v in c.get("persistent_volumes") or ()),
        pod_management_policy=c.get("pod_management_policy", "OrderedReady"),
        metrics_providers=providers,
        scaledown_policies=tuple((autoscaling.get("scaledown_policies") or {}).items()),
        node_selectors=tuple(selectors),
        node_requirements=tuple(requirements),
        pool=c.get("pool", "default"),
        namespace=c.get("namespace"),
        docker_registry=registry,
        extended={k: v for k, v in c.items() if k in EXTENDED_PROPERTIES or k == "lifecycle"},
    )
