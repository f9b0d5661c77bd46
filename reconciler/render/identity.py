"""Who an instance's pods run as: the service account (`service_account_name`, or PaaSTA's
derived one for an AWS `iam_role`, which the reconciler also renders), and the pod's fsGroup."""

from __future__ import annotations

import re
from typing import Any

from reconciler.render.names import namespace_name
from reconciler.render.settings import RenderSettings
from reconciler.soa.model import InstanceConfig

IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
#: fsGroup PaaSTA gives pods with an IAM role and no fs_group (`nobody`).
NOBODY = 65534
_NOT_ALNUM = re.compile(r"[^0-9a-zA-Z]+")


def iam_role(config: InstanceConfig) -> str | None:
    """The AWS IAM role the pods assume (provider aws, the only one PaaSTA 1.64 accepts)."""
    role = config.extended.get("iam_role")
    return role if role and config.extended.get("iam_role_provider", "aws") == "aws" else None


def service_account_name(config: InstanceConfig) -> str | None:
    """`paasta--<role arn, lower-cased, non-alphanumerics as ->` for an IAM role, else
    `service_account_name` (None: the namespace's default)."""
    role = iam_role(config)
    if role:
        return f"paasta--{_NOT_ALNUM.sub('-', role.lower())}"
    name = config.extended.get("service_account_name")
    return str(name) if name else None


def security_context(config: InstanceConfig) -> dict[str, Any] | None:
    """The pod's fsGroup (and its change policy)."""
    fs_group = config.extended.get("fs_group")
    if fs_group is None and iam_role(config):
        fs_group = NOBODY
    if fs_group is None:
        return None
    out: dict[str, Any] = {"fsGroup": fs_group}
    if config.extended.get("fs_group_change_policy") is not None:
        out["fsGroupChangePolicy"] = config.extended["fs_group_change_policy"]
    return out


def service_account(config: InstanceConfig, settings: RenderSettings) -> dict[str, Any] | None:
    """The ServiceAccount of an IAM role, annotated for IRSA; shared by every instance of the
    namespace with that role (so it carries the service's labels, not an instance's)."""
    role = iam_role(config)
    if role is None:
        return None
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": service_account_name(config), "namespace": namespace_name(config),
                         "labels": {settings.label("managed"): "true", settings.label("service"): config.service},
                         "annotations": {IRSA_ANNOTATION: role}}}
