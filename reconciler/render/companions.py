"""The objects beside a workload: its Namespace, PodDisruptionBudget and HorizontalPodAutoscaler."""

from __future__ import annotations

from typing import Any

from reconciler.render import quantities as q
from reconciler.render.names import namespace_name, workload_name
from reconciler.render.settings import RenderSettings
from reconciler.render.workload import percent_unavailable, selector_labels
from reconciler.soa.model import InstanceConfig, MetricsProvider
from reconciler.soa.schema import RESOURCE_METRIC_PROVIDERS

#: PaaSTA's scale-down behaviour: at most 30% of the replicas per minute, after 5 minutes' calm.
DEFAULT_SCALE_DOWN: dict[str, Any] = {
    "stabilizationWindowSeconds": 300,
    "selectPolicy": "Max",
    "policies": [{"type": "Percent", "value": 30, "periodSeconds": 60}],
}


def namespace(config: InstanceConfig, settings: RenderSettings) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace_name(config), "labels": {settings.label("managed"): "true"}},
    }


def _metadata(config: InstanceConfig, settings: RenderSettings) -> dict[str, Any]:
    return {
        "name": workload_name(config.service, config.instance),
        "namespace": namespace_name(config),
        "labels": {**selector_labels(config, settings), settings.label("managed"): "true",
                   settings.label("cluster"): config.cluster},
    }


def pod_disruption_budget(config: InstanceConfig, settings: RenderSettings) -> dict[str, Any]:
    unavailable: int | str = percent_unavailable(config.bounce_margin_factor) \
        if config.bounce_margin_factor_explicit else settings.pdb_max_unavailable
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(config, settings),
        "spec": {"maxUnavailable": unavailable,
                 "selector": {"matchLabels": selector_labels(config, settings)}},
    }


#: Providers whose adapter metric is templated per window and selected by the pod's identity.
TEMPLATED_PROVIDERS = frozenset({"uwsgi", "uwsgi-v2", "piscina", "worker-load", "gunicorn"})
DEFAULT_WINDOW_SECONDS = 1800


def metric(config: InstanceConfig, provider: MetricsProvider) -> dict[str, Any]:
    """One HPA metric as PaaSTA 1.64 writes it: a Resource utilization for cpu and memory, else an
    Object metric on the Deployment served by a Prometheus adapter."""
    if provider.type in RESOURCE_METRIC_PROVIDERS:
        return {"type": "Resource", "resource": {"name": provider.type, "target": {
            "type": "Utilization", "averageUtilization": int(provider.setpoint * 100)}}}
    name = workload_name(config.service, config.instance)
    identifier: dict[str, Any]
    if provider.type in TEMPLATED_PROVIDERS:
        window = provider.moving_average_window_seconds or DEFAULT_WINDOW_SECONDS
        identifier = {"name": f"{provider.type}-prom-{window}", "selector": {"matchLabels": {
            "paasta_cluster": config.cluster, "paasta_service": config.service, "paasta_instance": config.instance}}}
    else:
        identifier = {"name": f"{name}-{provider.type}-prom"}
    setpoint = q.cpu(q.decimal(provider.setpoint))
    if provider.type in ("uwsgi", "piscina", "gunicorn"):
        target = {"type": "Value", "value": setpoint}
    elif provider.type == "active-requests":
        target = {"type": "Value", "value": "1"}  # the adapter answers the wanted scale factor
    elif provider.type == "arbitrary-promql" and provider.target_type == "Value":
        target = {"type": "Value", "value": setpoint}
    else:  # arbitrary-promql (AverageValue), uwsgi-v2, worker-load
        target = {"type": "AverageValue", "averageValue": setpoint}
    return {"type": "Object", "object": {
        "metric": identifier, "describedObject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
        "target": target}}


def horizontal_pod_autoscaler(config: InstanceConfig, settings: RenderSettings, target_kind: str) -> dict[str, Any]:
    assert config.max_instances is not None, "only autoscaled instances have an HPA"
    metrics = [metric(config, p) for p in config.metrics_providers or (MetricsProvider("cpu"),)]
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(config, settings),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": target_kind,
                               "name": workload_name(config.service, config.instance)},
            "minReplicas": config.min_instances,
            "maxReplicas": config.max_instances,
            "metrics": metrics,
            "behavior": {"scaleDown": {**DEFAULT_SCALE_DOWN, **dict(config.scaledown_policies)}},
        },
    }
