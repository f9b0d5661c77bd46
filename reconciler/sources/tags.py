"""Deploy and control tags of service repositories, and the deployments.json they add up to.

Pure: names in, values out (no git, no clock). The tag forms (soa-configs.md section 4):

- deploy:  ``paasta-<deploy_group>[+<image_version>]-<YYYYMMDDTHHMMSS>-deploy``
- control: ``paasta-<cluster>.<instance>-<YYYYMMDDTHHMMSS>-start|stop``

The timestamp and the kind are anchored at the end of the name, so deploy groups and
clusters may contain dots and dashes. An instance name never contains a dot, so a control
tag splits at its last dot. A deploy group may contain ``+``: when the deploy groups in
question are known, the longest one that the name starts with wins (an exact match first);
without them, the group ends at the first ``+``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

TAG_PREFIX = "paasta-"
REF_PREFIX = "refs/tags/"
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%S"
#: Characters of a Docker tag, which an image version becomes part of.
IMAGE_VERSION = re.compile(r"^[A-Za-z0-9_.-]+$")
_STAMP = re.compile(r"[0-9]{8}T[0-9]{6}")
INSTANCE = re.compile(r"^([a-z0-9]|[a-z0-9][a-z0-9_-]*[a-z0-9])$")

_DEPLOY = re.compile(r"^paasta-(?P<middle>.+)-(?P<ts>\d{8}T\d{6})-deploy$", re.DOTALL)
_CONTROL = re.compile(
    r"^paasta-(?P<cluster>.+)\.(?P<instance>[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?)"
    r"-(?P<ts>\d{8}T\d{6})-(?P<state>start|stop)$", re.DOTALL)

State = Literal["start", "stop"]


def format_timestamp(moment: datetime) -> str:
    """`YYYYMMDDTHHMMSS` in UTC (a naive datetime is taken to be UTC already)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime(TIMESTAMP_FORMAT)


def is_timestamp(text: str) -> bool:
    """Whether `text` is a real `YYYYMMDDTHHMMSS` moment (not just fourteen digits)."""
    if not _STAMP.fullmatch(text):
        return False
    try:  # the constructor checks the ranges (month, day of month, ...) at a fraction of strptime's cost
        datetime(int(text[0:4]), int(text[4:6]), int(text[6:8]), int(text[9:11]), int(text[11:13]), int(text[13:15]))
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class DeployTag:
    """`paasta-<deploy_group>[+<image_version>]-<timestamp>-deploy`."""

    deploy_group: str
    timestamp: str
    image_version: str | None = None

    @property
    def name(self) -> str:
        version = f"+{self.image_version}" if self.image_version is not None else ""
        return f"{TAG_PREFIX}{self.deploy_group}{version}-{self.timestamp}-deploy"


@dataclass(frozen=True, slots=True)
class ControlTag:
    """`paasta-<cluster>.<instance>-<timestamp>-start|stop`."""

    cluster: str
    instance: str
    timestamp: str
    state: State

    @property
    def name(self) -> str:
        return f"{TAG_PREFIX}{self.cluster}.{self.instance}-{self.timestamp}-{self.state}"


def _short(name: str) -> str:
    return name[len(REF_PREFIX):] if name.startswith(REF_PREFIX) else name


def parse_deploy_tag(name: str, groups: Collection[str] | None = None) -> DeployTag | None:
    """The deploy tag `name` (with or without `refs/tags/`) is, or None.

    With `groups`, only those deploy groups are recognised (see the module docstring).
    """
    match = _DEPLOY.match(_short(name))
    if not match or not is_timestamp(match.group("ts")):
        return None
    middle, stamp = match.group("middle"), match.group("ts")
    if groups is None:
        group, plus, version = middle.partition("+")
        return _deploy(group, stamp, version if plus else None)
    best: DeployTag | None = None
    for group in groups:
        if middle == group:
            return _deploy(group, stamp, None)
        if middle.startswith(group + "+") and (best is None or len(group) > len(best.deploy_group)):
            best = _deploy(group, stamp, middle[len(group) + 1:]) or best
    return best


def _deploy(group: str, stamp: str, version: str | None) -> DeployTag | None:
    if not group or (version is not None and not IMAGE_VERSION.match(version)):
        return None
    return DeployTag(group, stamp, version)


def parse_control_tag(name: str) -> ControlTag | None:
    """The control tag `name` (with or without `refs/tags/`) is, or None."""
    match = _CONTROL.match(_short(name))
    if not match or not is_timestamp(match.group("ts")):
        return None
    state: State = "start" if match.group("state") == "start" else "stop"
    return ControlTag(match.group("cluster"), match.group("instance"), match.group("ts"), state)


def parse_ls_remote(output: str) -> dict[str, str]:
    """`git ls-remote --tags` output -> tag name (no `refs/tags/`) -> commit sha.

    An annotated tag is listed twice: the tag object, then `<name>^{}` with the commit it
    points at; the commit wins. Lines that are not tags are skipped.
    """
    direct: dict[str, str] = {}
    peeled: dict[str, str] = {}
    for line in output.splitlines():
        sha, _, ref = line.strip().partition("\t")
        if not ref.startswith(REF_PREFIX) or not sha:
            continue
        name = ref[len(REF_PREFIX):]
        if name.endswith("^{}"):
            peeled[name[:-3]] = sha
        else:
            direct[name] = sha
    return {name: peeled.get(name, sha) for name, sha in direct.items()}


@dataclass(frozen=True, slots=True)
class Deployed:
    """What a deploy group runs: the newest deploy tag's commit and image version."""

    deploy_group: str
    git_sha: str
    image_version: str | None
    timestamp: str
    tag: str


@dataclass(frozen=True, slots=True)
class ControlState:
    """The newest control of one instance issued against the sha it runs."""

    desired_state: State
    force_bounce: str | None
    timestamp: str
    tag: str


def latest_deploys(tags: Mapping[str, str], groups: Collection[str]) -> dict[str, Deployed]:
    """Per deploy group in `groups`: its newest deploy tag (ties: the greater tag name)."""
    known = frozenset(groups)
    best: dict[str, Deployed] = {}
    for name, sha in tags.items():
        tag = parse_deploy_tag(name, known)
        if tag is None:
            continue
        current = best.get(tag.deploy_group)
        if current is None or (tag.timestamp, _short(name)) > (current.timestamp, current.tag):
            best[tag.deploy_group] = Deployed(tag.deploy_group, sha, tag.image_version,
                                              tag.timestamp, _short(name))
    return best


def latest_controls(tags: Mapping[str, str],
                    deployed: Mapping[tuple[str, str], str]) -> dict[tuple[str, str], ControlState]:
    """Per (cluster, instance) in `deployed` (-> the sha it runs): its newest control on that sha.

    Controls on any other commit are ignored: deploying a new sha undoes an earlier stop.
    On equal timestamps `stop` wins. A start tag's timestamp becomes `force_bounce`.
    """
    best: dict[tuple[str, str], ControlState] = {}
    for name, sha in tags.items():
        tag = parse_control_tag(name)
        if tag is None:
            continue
        key = (tag.cluster, tag.instance)
        if deployed.get(key) != sha:
            continue
        current = best.get(key)
        if current is None or (tag.timestamp, tag.state) > (current.timestamp, current.desired_state):
            bounce = tag.timestamp if tag.state == "start" else None
            best[key] = ControlState(tag.state, bounce, tag.timestamp, _short(name))
    return best


def docker_image(service: str, sha: str, image_version: str | None) -> str:
    """`services-<service>:paasta-<sha>[-<image_version>]` (relative to the registry)."""
    suffix = f"-{image_version}" if image_version is not None else ""
    return f"services-{service}:paasta-{sha}{suffix}"


def deployments_document(service: str, tags: Mapping[str, str],
                         instance_groups: Mapping[tuple[str, str], str]) -> dict[str, Any]:
    """deployments.json (v2) of `service` from its tags (name -> commit) and its instances.

    `instance_groups` maps (cluster, instance) to the instance's deploy group. Every deploy
    group with a deploy tag gets a `deployments` entry; every instance of such a group gets
    a `controls` entry (`start`, no force_bounce, unless a control tag says otherwise), as
    PaaSTA writes it.
    """
    deploys = latest_deploys(tags, set(instance_groups.values()))
    running = {key: deploys[group].git_sha for key, group in instance_groups.items()
               if group in deploys}
    controls = latest_controls(tags, running)
    return {"v2": {
        "deployments": {
            group: {"docker_image": docker_image(service, d.git_sha, d.image_version),
                    "git_sha": d.git_sha, "image_version": d.image_version}
            for group, d in sorted(deploys.items())
        },
        "controls": {
            f"{service}:{cluster}.{instance}": _control_entry(controls.get((cluster, instance)))
            for cluster, instance in sorted(running)
        },
    }}


def _control_entry(state: ControlState | None) -> dict[str, Any]:
    if state is None:
        return {"desired_state": "start", "force_bounce": None}
    return {"desired_state": state.desired_state, "force_bounce": state.force_bounce}


def encode_document(doc: Mapping[str, Any]) -> bytes:
    """The file's bytes: sorted keys, two-space indent, a trailing newline (deterministic)."""
    return (json.dumps(doc, sort_keys=True, indent=2) + "\n").encode()
