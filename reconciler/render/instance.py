"""Every object of one instance, each labelled with its own config_sha."""

from __future__ import annotations

from typing import Any

from reconciler.render.companions import horizontal_pod_autoscaler, namespace, pod_disruption_budget
from reconciler.render.hashing import config_sha
from reconciler.render.settings import RenderSettings
from reconciler.render.workload import workload
from reconciler.soa.model import Control, DeployedVersion, InstanceConfig


def render_instance(config: InstanceConfig, version: DeployedVersion, control: Control,
                    settings: RenderSettings) -> list[dict[str, Any]]:
    """Namespace, workload, PodDisruptionBudget and (when autoscaled and running) HPA."""
    sha_label = settings.label("config_sha")
    ns = namespace(config, settings)
    ns["metadata"]["labels"][sha_label] = config_sha(ns, None)  # shared by instances: no force_bounce

    work = workload(config, version, control, settings)
    sha = config_sha(work, control.force_bounce)
    work["metadata"]["labels"][sha_label] = sha
    work["spec"]["template"]["metadata"]["labels"][sha_label] = sha
    objects = [ns, work, pod_disruption_budget(config, settings)]
    if config.autoscaled and control.desired_state != "stop":
        objects.append(horizontal_pod_autoscaler(config, settings, work["kind"]))
    for obj in objects[2:]:
        obj["metadata"]["labels"][sha_label] = config_sha(obj, control.force_bounce)
    return objects
