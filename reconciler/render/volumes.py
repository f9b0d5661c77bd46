"""An instance's pod volumes and the main container's mounts, named as PaaSTA 1.64 names them:
extra_volumes (hostPath, and /nail/bulkdata with uses_bulkdata), aws_ebs_volumes,
persistent_volumes (claims of the StatefulSet), secret_volumes and projected_sa_volumes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.render.names import namespace_name, sanitised_volume_name, secret_name
from reconciler.soa.model import InstanceConfig

BULKDATA = {"hostPath": "/nail/bulkdata", "containerPath": "/nail/bulkdata", "mode": "RO"}
PROJECTED_TOKEN_PATH = "token"
DEFAULT_TOKEN_EXPIRATION = 3600


def file_mode(mode: str | None) -> int | None:
    """`"0644"` -> 420 (validated: a leading 0, octal digits)."""
    return None if mode is None else int(mode[1:], 8)


def _read_only(volume: Mapping[str, Any]) -> bool:
    return bool(volume.get("mode", "RO") == "RO")


def _host_volumes(config: InstanceConfig) -> list[Mapping[str, Any]]:
    out = list(config.extended.get("extra_volumes") or ())
    if config.extended.get("uses_bulkdata"):
        out.append(BULKDATA)
    return out


def _ebs_name(volume: Mapping[str, Any]) -> str:
    return sanitised_volume_name(f"aws-ebs--{volume['volume_id']}{volume.get('partition', '')}")


def pod_volumes(config: InstanceConfig) -> list[dict[str, Any]]:
    """The pod's volumes (claims of persistent_volumes are the StatefulSet's, not here)."""
    out: list[dict[str, Any]] = []
    hosts = {sanitised_volume_name(f"host--{v['hostPath']}", 63): v for v in _host_volumes(config)}
    out += [{"name": name, "hostPath": {"path": v["hostPath"]}} for name, v in hosts.items()]
    disks = {_ebs_name(v): v for v in config.extended.get("aws_ebs_volumes") or ()}
    for name, v in disks.items():
        source: dict[str, Any] = {"volumeID": v["volume_id"], "readOnly": False}
        if v.get("fs_type") is not None:
            source["fsType"] = v["fs_type"]
        if v.get("partition") is not None:
            source["partition"] = v["partition"]
        out.append({"name": name, "awsElasticBlockStore": source})
    for v in config.extended.get("secret_volumes") or ():
        secret: dict[str, Any] = {"secretName": secret_name(namespace_name(config), config.service, v["secret_name"]),
                                  "optional": False}
        if v.get("default_mode") is not None:
            secret["defaultMode"] = file_mode(v["default_mode"])
        if "items" in v:
            secret["items"] = [{"key": i["key"], "path": i["path"],
                                **({"mode": file_mode(i["mode"])} if i.get("mode") is not None else {})}
                               for i in v["items"]]
        out.append({"name": sanitised_volume_name(f"secret--{v['secret_name']}", 63), "secret": secret})
    for v in config.extended.get("projected_sa_volumes") or ():
        token = {"audience": v["audience"], "expirationSeconds": v.get("expiration_seconds", DEFAULT_TOKEN_EXPIRATION),
                 "path": PROJECTED_TOKEN_PATH}
        out.append({"name": sanitised_volume_name(f"projected-sa--{v['audience']}", 63),
                    "projected": {"sources": [{"serviceAccountToken": token}]}})
    return out


def _mount(path: str, name: str, read_only: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "mountPath": path}
    if read_only:
        out["readOnly"] = True
    return out


def volume_mounts(config: InstanceConfig) -> list[dict[str, Any]]:
    """The main container's mounts, in PaaSTA's order."""
    extended = config.extended
    return (
        [_mount(v["containerPath"], sanitised_volume_name(f"host--{v['hostPath']}", 63), _read_only(v))
         for v in _host_volumes(config)]
        + [_mount(v["container_path"], _ebs_name(v), _read_only(v)) for v in extended.get("aws_ebs_volumes") or ()]
        + [_mount(v.container_path, sanitised_volume_name(f"pv--{v.container_path}", 253), v.read_only)
           for v in config.persistent_volumes]
        + [_mount(v["container_path"], sanitised_volume_name(f"secret--{v['secret_name']}", 63), True)
           for v in extended.get("secret_volumes") or ()]
        + [_mount(v["container_path"], sanitised_volume_name(f"projected-sa--{v['audience']}", 63), True)
           for v in extended.get("projected_sa_volumes") or ()]
    )
