"""deployments.json (format v2): which image each deploy group runs, and the start/stop controls."""

from __future__ import annotations

import re
from typing import Any

from reconciler.soa.model import Control, DeployedVersion, Deployments
from reconciler.soa.yamlparse import ParseError, parse_json

_PAASTA_TAG = re.compile(r":paasta-(?P<sha>[A-Za-z0-9]+)(?:-(?P<version>.+))?$")


def git_sha_of_image(docker_image: str, fallback: str | None) -> str | None:
    """The git sha encoded in `services-x:paasta-<sha>[-<image_version>]`, else `fallback`."""
    match = _PAASTA_TAG.search(docker_image)
    if match:
        return match.group("sha")
    return fallback or None


def parse_deployments(data: bytes) -> Deployments:
    """Parse deployments.json; raises ParseError when the file as a whole is unusable."""
    doc = parse_json(data)
    if not isinstance(doc, dict):
        raise ParseError("must be a JSON object")
    v2 = doc.get("v2")
    if v2 is None:
        raise ParseError("has no 'v2' section (format v1 is not supported)")
    if not isinstance(v2, dict):
        raise ParseError("'v2' must be an object")
    raw_deployments = v2.get("deployments") or {}
    raw_controls = v2.get("controls") or {}
    if not isinstance(raw_deployments, dict):
        raise ParseError("'v2.deployments' must be an object")
    if not isinstance(raw_controls, dict):
        raise ParseError("'v2.controls' must be an object")

    versions: dict[str, DeployedVersion] = {}
    invalid_groups: dict[str, str] = {}
    for group, entry in raw_deployments.items():
        try:
            versions[group] = _version(group, entry)
        except ValueError as exc:
            invalid_groups[group] = str(exc)

    controls: dict[str, Control] = {}
    invalid_controls: dict[str, str] = {}
    for key, entry in raw_controls.items():
        try:
            controls[key] = _control(entry)
        except ValueError as exc:
            invalid_controls[key] = str(exc)
    return Deployments(versions, controls, invalid_groups, invalid_controls)


def _version(group: str, entry: Any) -> DeployedVersion:
    if not isinstance(entry, dict):
        raise ValueError("entry must be an object")
    image = entry.get("docker_image")
    if not isinstance(image, str) or not image:
        raise ValueError("'docker_image' is missing or not a string")
    declared_sha = entry.get("git_sha")
    if declared_sha is not None and not isinstance(declared_sha, str):
        raise ValueError("'git_sha' must be a string")
    sha = git_sha_of_image(image, declared_sha)
    if not sha:
        raise ValueError(f"cannot tell the git sha of image {image!r} (expected ':paasta-<sha>')")
    version = entry.get("image_version")
    if version is not None and not isinstance(version, str):
        raise ValueError("'image_version' must be a string or null")
    return DeployedVersion(group, image, sha, version)


def _control(entry: Any) -> Control:
    if not isinstance(entry, dict):
        raise ValueError("control must be an object")
    state = entry.get("desired_state", "start")
    if state not in ("start", "stop"):
        raise ValueError(f"desired_state must be 'start' or 'stop' (got {state!r})")
    bounce = entry.get("force_bounce")
    if bounce is not None and not isinstance(bounce, str):
        bounce = str(bounce)
    return Control(state, bounce)
