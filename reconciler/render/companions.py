"""The objects beside a workload: its Namespace, PodDisruptionBudget and HorizontalPodAutoscaler."""

from __future__ import annotations

from typing import Any

from reconciler.render.names import namespace_name, workload_name
from reconciler.render.settings import RenderSettings
from reconciler.render.workload import percent_unavailable, selector_labels
from reconciler.soa.model import InstanceConfig

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


def horizontal_pod_autoscaler(config: InstanceConfig, settings: RenderSettings, target_kind: str) -> dict[str, Any]:
    assert config.max_instances is not None, "only autoscaled instances have an HPA"
    providers = config.metrics_providers or ()
    metrics = [
        {"type": "Resource", "resource": {"name": p.type, "target": {
            "type": "Utilization", "averageUtilization": int(p.setpoint * 100)}}}
        for p in providers
    ] or [{"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": 80}}}]
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
