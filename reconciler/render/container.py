"""The main container of an instance's pods: image, command, env, resources, probes."""

from __future__ import annotations

from typing import Any

from reconciler.render import quantities as q
from reconciler.render.names import sanitise, volume_name
from reconciler.soa.model import DeployedVersion, Healthcheck, InstanceConfig


def image(config: InstanceConfig, version: DeployedVersion, registry: str | None) -> str:
    registry = config.docker_registry or registry
    return f"{registry.rstrip('/')}/{version.docker_image}" if registry else version.docker_image


#: Facts only the pod knows, from the downward API, as PaaSTA provides them.
POD_FIELDS = (("PAASTA_POD_IP", "status.podIP"), ("POD_NAME", "metadata.name"),
              ("PAASTA_HOST", "spec.nodeName"))


def environment(config: InstanceConfig, version: DeployedVersion) -> list[dict[str, Any]]:
    """Platform variables, then the user's (which may override them), then PAASTA_PORT and
    the pod's own IP, name and node."""
    env = {
        "PAASTA_SERVICE": config.service,
        "PAASTA_INSTANCE": config.instance,
        "PAASTA_CLUSTER": config.cluster,
        "PAASTA_DEPLOY_GROUP": config.deploy_group,
        "PAASTA_DOCKER_IMAGE": version.docker_image,
        "PAASTA_GIT_SHA": version.git_sha[:8],
        "PAASTA_RESOURCE_CPUS": q.as_written(config.cpus),
        "PAASTA_RESOURCE_MEM": q.as_written(config.mem),
        "PAASTA_RESOURCE_DISK": q.as_written(config.disk),
    }
    if version.image_version is not None:
        env["PAASTA_IMAGE_VERSION"] = version.image_version
    env.update(config.env)
    env["PAASTA_PORT"] = str(config.container_port)
    pod_fields = [(name, path) for name, path in POD_FIELDS if name not in env]
    return [{"name": name, "value": value} for name, value in env.items()] + [
        {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}} for name, path in pod_fields]


def resources(config: InstanceConfig) -> dict[str, dict[str, str]]:
    cpus = q.decimal(config.cpus)
    memory, disk = q.mebibytes(config.mem), q.mebibytes(config.disk)
    return {
        "requests": {"cpu": q.cpu(cpus), "memory": memory, "ephemeral-storage": disk},
        "limits": {"cpu": q.cpu(cpus + q.decimal(config.cpu_burst_add)), "memory": memory,
                   "ephemeral-storage": disk},
    }


def probe(check: Healthcheck, port: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "failureThreshold": check.max_consecutive_failures,
        "initialDelaySeconds": check.grace_period_seconds,
        "periodSeconds": check.interval_seconds,
        "timeoutSeconds": check.timeout_seconds,
    }
    if check.mode in ("http", "https"):
        out["httpGet"] = {"path": check.uri, "port": port, "scheme": check.mode.upper()}
    elif check.mode == "tcp":
        out["tcpSocket"] = {"port": port}
    else:
        out["exec"] = {"command": ["/bin/sh", "-c", check.cmd or ""]}
    return out


def container(config: InstanceConfig, version: DeployedVersion, registry: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": sanitise(config.instance), "image": image(config, version, registry)}
    if isinstance(config.cmd, str):
        out["command"] = ["sh", "-c", config.cmd]
    elif config.cmd:
        out["command"] = list(config.cmd)
    if config.args:
        out["args"] = list(config.args)
    out["ports"] = [{"containerPort": config.container_port}]
    out["env"] = environment(config, version)
    out["resources"] = resources(config)
    if config.healthcheck is not None:
        out["livenessProbe"] = probe(config.healthcheck, config.container_port)
        out["readinessProbe"] = probe(config.healthcheck, config.container_port)
    if config.persistent_volumes:
        mounts = []
        for volume in config.persistent_volumes:
            mount: dict[str, Any] = {"name": volume_name(volume.container_path),
                                     "mountPath": volume.container_path}
            if volume.read_only:
                mount["readOnly"] = True
            mounts.append(mount)
        out["volumeMounts"] = mounts
    return out
