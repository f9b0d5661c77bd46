"""The main container of an instance's pods: image, command, env, resources, probes."""

from __future__ import annotations

import re
from typing import Any

from reconciler.render import quantities as q
from reconciler.render.names import SHARED_SECRET_SERVICE, namespace_name, sanitise, secret_name
from reconciler.render.volumes import volume_mounts
from reconciler.soa.model import DeployedVersion, Healthcheck, InstanceConfig

#: An env value PaaSTA reads from a Secret: `SECRET(name)` or `SHARED_SECRET(name)`.
SECRET_REF = re.compile(r"^(SHARED_)?SECRET\(([A-Za-z0-9_-]*)\)$")
GPU_RESOURCE = "nvidia.com/gpu"


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
    secrets = {name: ref for name, value in env.items() if (ref := SECRET_REF.match(value))}
    pod_fields = [(name, path) for name, path in POD_FIELDS if name not in env]
    return ([{"name": name, "value": value} for name, value in env.items() if name not in secrets]
            + [secret_env(config, name, ref) for name, ref in secrets.items()]
            + [{"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}} for name, path in pod_fields])


def secret_env(config: InstanceConfig, name: str, ref: re.Match[str]) -> dict[str, Any]:
    """An env entry read from the service's Secret (or the shared one) for `SECRET(key)`."""
    owner = SHARED_SECRET_SERVICE if ref.group(1) else config.service
    key = ref.group(2)
    return {"name": name, "valueFrom": {"secretKeyRef": {
        "name": secret_name(namespace_name(config), owner, key), "key": key, "optional": False}}}


def resources(config: InstanceConfig) -> dict[str, dict[str, Any]]:
    cpus = q.decimal(config.cpus)
    memory, disk = q.mebibytes(config.mem), q.mebibytes(config.disk)
    out: dict[str, dict[str, Any]] = {
        "requests": {"cpu": q.cpu(cpus), "memory": memory, "ephemeral-storage": disk},
        "limits": {"cpu": q.cpu(cpus + q.decimal(config.cpu_burst_add)), "memory": memory,
                   "ephemeral-storage": disk},
    }
    gpus = config.extended.get("gpus")
    if gpus:
        out["requests"][GPU_RESOURCE] = out["limits"][GPU_RESOURCE] = str(gpus)
    return out


def pre_stop(config: InstanceConfig) -> list[str] | None:
    """The preStop command PaaSTA gives a pod outside the mesh: `pre_stop_command`, else a
    sleep of `pre_stop_drain_seconds` (waiting for open connections to close when asked);
    None for the no-op `sleep 0`."""
    lifecycle = config.extended.get("lifecycle") or {}
    command = lifecycle.get("pre_stop_command")
    if command:
        return [command] if isinstance(command, str) else list(command)
    drain = lifecycle.get("pre_stop_drain_seconds", 0)
    if lifecycle.get("pre_stop_wait_for_connections_to_complete", False):
        port = f"{config.container_port:04X}"
        return ["/bin/sh", "-c", f"sleep {drain}; while grep '^ *[0-9]*: ........:{port} ........:.... 01 ' "
                                 "/proc/net/tcp; do sleep 1; echo; done"]
    return ["/bin/sh", "-c", f"sleep {drain}"] if drain else None


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
    ports = [config.container_port]
    prometheus_port = config.extended.get("prometheus_port")
    if prometheus_port and prometheus_port not in ports:
        ports.append(prometheus_port)
    out["ports"] = [{"containerPort": port} for port in ports]
    out["env"] = environment(config, version)
    out["resources"] = resources(config)
    if config.healthcheck is not None:
        out["livenessProbe"] = probe(config.healthcheck, config.container_port)
        out["readinessProbe"] = probe(config.healthcheck, config.container_port)
    if (command := pre_stop(config)) is not None:
        out["lifecycle"] = {"preStop": {"exec": {"command": command}}}
    if config.extended.get("cap_add"):
        out["securityContext"] = {"capabilities": {"add": list(config.extended["cap_add"])}}
    if mounts := volume_mounts(config):
        out["volumeMounts"] = mounts
    return out
