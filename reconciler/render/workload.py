"""The workload of an instance: a Deployment, or a StatefulSet when it has persistent volumes."""

from __future__ import annotations

from typing import Any

from reconciler.render import identity, scheduling
from reconciler.render.container import container
from reconciler.render.names import namespace_name, volume_name, workload_name
from reconciler.render.quantities import gibibytes
from reconciler.render.settings import RenderSettings
from reconciler.render.volumes import pod_volumes
from reconciler.soa.model import Control, DeployedVersion, InstanceConfig

#: Old ReplicaSets kept for `kubectl rollout undo`; the reconciler's own rollback uses annotations.
REVISION_HISTORY_LIMIT = 2


def percent_unavailable(bounce_margin_factor: float) -> str:
    """maxUnavailable from bounce_margin_factor, truncated in floating point as PaaSTA does."""
    return f"{int((1 - bounce_margin_factor) * 100)}%"


def strategy(config: InstanceConfig) -> dict[str, Any]:
    if config.bounce_method == "downthenup":
        return {"type": "Recreate"}
    unavailable = "100%" if config.bounce_method == "brutal" \
        else percent_unavailable(config.bounce_margin_factor)
    return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "100%", "maxUnavailable": unavailable}}


def replicas(config: InstanceConfig, control: Control) -> int | None:
    """0 when stopped; none (the HPA owns the field) when autoscaled; else `instances`. An
    autoscaled StatefulSet gets no HPA (as in PaaSTA 1.64): it runs `min_instances`."""
    if control.desired_state == "stop":
        return 0
    if config.autoscaled:
        return config.min_instances if config.stateful else None
    return config.instances


def selector_labels(config: InstanceConfig, settings: RenderSettings) -> dict[str, str]:
    return {settings.label("service"): config.service, settings.label("instance"): config.instance}


def workload_labels(config: InstanceConfig, version: DeployedVersion, settings: RenderSettings) -> dict[str, str]:
    return {
        **selector_labels(config, settings),
        settings.label("git_sha"): version.git_sha,
        settings.label("managed"): "true",
        settings.label("autoscaled"): "true" if config.autoscaled else "false",
        settings.label("cluster"): config.cluster,
    }


def pod_spec(config: InstanceConfig, version: DeployedVersion, settings: RenderSettings) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [container(config, version, settings.docker_registry)]}
    if config.termination_grace_period_seconds is not None:
        spec["terminationGracePeriodSeconds"] = config.termination_grace_period_seconds
    if node_selector := scheduling.node_selector(config, settings):
        spec["nodeSelector"] = node_selector
    if affinity := scheduling.affinity(config, settings):
        spec["affinity"] = affinity
    if spread := scheduling.topology_spread(config, settings):
        spec["topologySpreadConstraints"] = spread
    if account := identity.service_account_name(config):
        spec["serviceAccountName"] = account
    if security := identity.security_context(config):
        spec["securityContext"] = security
    if volumes := pod_volumes(config):
        spec["volumes"] = volumes
    return spec


#: Metrics providers whose pods Prometheus scrapes, so they need a routable IP (as in PaaSTA).
SCRAPED_PROVIDERS = frozenset({"uwsgi", "gunicorn", "worker-load"})


def pod_metadata(config: InstanceConfig, labels: dict[str, str], settings: RenderSettings) -> dict[str, Any]:
    """The pod template's labels and annotations: prometheus scraping (and the scrape labels of
    the autoscaling providers), routable IP, the opt-in labels of the istio sidecar and the AWS
    load balancer readiness gate."""
    extended = config.extended
    labels = {**labels, settings.label("deploy_group"): config.deploy_group}
    if extended.get("prometheus_shard"):
        labels[settings.label("prometheus_shard")] = extended["prometheus_shard"]
    if extended.get("is_istio_sidecar_injection_enabled"):
        labels["sidecar.istio.io/inject"] = "true"
    if extended.get("enable_aws_lb_readiness_gate"):
        labels["elbv2.k8s.aws/pod-readiness-gate-inject"] = "enabled"
    providers = {p.type for p in config.metrics_providers}
    scaled_by = providers if config.autoscaled else set()
    if "piscina" in scaled_by:
        labels[settings.label("scrape_piscina_prometheus")] = "true"
    if scaled_by & {"gunicorn", "worker-load"}:
        labels[settings.label("scrape_gunicorn_prometheus")] = "true"
    annotations: dict[str, str] = {}
    if "uwsgi" in providers:
        annotations["autoscaling"] = "uwsgi"  # PaaSTA's HPA metrics collector looks for it
    if extended.get("routable_ip") or extended.get("prometheus_port") is not None or scaled_by & SCRAPED_PROVIDERS:
        annotations[settings.label("routable_ip")] = "true"
    if extended.get("prometheus_path"):
        annotations[settings.label("prometheus_path")] = extended["prometheus_path"]
    if extended.get("prometheus_port"):
        annotations[settings.label("prometheus_port")] = str(extended["prometheus_port"])
    return {"labels": labels, "annotations": annotations} if annotations else {"labels": labels}


def workload(config: InstanceConfig, version: DeployedVersion, control: Control,
             settings: RenderSettings) -> dict[str, Any]:
    """The Deployment or StatefulSet, without its config_sha labels (added by the caller)."""
    name = workload_name(config.service, config.instance)
    labels = workload_labels(config, version, settings)
    template = {"metadata": pod_metadata(config, labels, settings), "spec": pod_spec(config, version, settings)}
    spec: dict[str, Any] = {}
    count = replicas(config, control)
    if count is not None:
        spec["replicas"] = count
    spec["selector"] = {"matchLabels": selector_labels(config, settings)}
    spec["minReadySeconds"] = config.min_task_uptime
    spec["revisionHistoryLimit"] = REVISION_HISTORY_LIMIT
    if config.stateful:
        kind = "StatefulSet"
        spec["serviceName"] = name
        spec["podManagementPolicy"] = config.pod_management_policy
        spec["volumeClaimTemplates"] = [_claim(v.container_path, v.size_gib, v.storage_class_name)
                                        for v in config.persistent_volumes]
    else:
        kind = "Deployment"
        spec["strategy"] = strategy(config)
        spec["progressDeadlineSeconds"] = settings.progress_deadline_seconds
    spec["template"] = template
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace_name(config), "labels": labels},
        "spec": spec,
    }


def _claim(path: str, size_gib: int, storage_class: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": gibibytes(size_gib)}}}
    if storage_class:
        spec["storageClassName"] = storage_class
    return {"metadata": {"name": volume_name(path)}, "spec": spec}
