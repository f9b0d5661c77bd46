"""The deployments generator: service repositories' tags -> deployments.json on the deployments branch.

One run: fetch the deployments branch, read every service repository's tags (`git ls-remote
--tags`, a bounded number at a time, each with a timeout), compute each service's
deployments.json, and when any file differs from the branch's, write one commit on the
branch's tip and push it without force. A push refused because the branch moved is met by
fetching, reading the tags again and recomputing on the new tip (a bounded number of times):
tags are always read after the fetch, so a commit never replaces a newer one with older tags.

A repository that cannot be read is reported and its service's file is left exactly as it is.
While a service's soa-configs have errors, the entries the generator cannot recompute (deploy
groups and controls of instances it cannot read) are kept as they were, never dropped.
Files of services no longer in soa-configs are left alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import git

from reconciler.soa.files import SoaSource
from reconciler.soa.load import load_service
from reconciler.sources.deployments_branch import DeploymentsBranch, path_of
from reconciler.scrub import scrub
from reconciler.sources.errors import SourceError
from reconciler.sources.tags import deployments_document, encode_document, parse_ls_remote

DEFAULT_TAG_TIMEOUT = 30.0
DEFAULT_ATTEMPTS = 5


@dataclass(frozen=True)
class ServiceInstances:
    """A service's instances, each with its deploy group, as soa-configs define them."""

    service: str
    groups: Mapping[tuple[str, str], str]
    #: False when some file or instance has errors: its deploy group is not known
    complete: bool = True


def service_instances(source: SoaSource, service: str) -> ServiceInstances:
    """Every valid instance of `service` on every cluster it has files for -> deploy group."""
    files = source.read_service(service)
    complete = not any(name != "deployments.json" for name in files.unreadable)
    groups: dict[tuple[str, str], str] = {}
    for cluster in files.clusters():
        load = load_service(files, cluster)
        if any(i.is_error and not i.file.endswith("/deployments.json") for i in load.issues):
            complete = False
        for result in load.instances:
            if result.config is None:
                complete = False
            else:
                groups[(cluster, result.instance)] = result.config.deploy_group
    return ServiceInstances(service, groups, complete)


def repo_url(template: str, service: str) -> str:
    return template.replace("{service}", service)


def list_tags(url: str, timeout: float = DEFAULT_TAG_TIMEOUT) -> dict[str, str]:
    """The tags of the repository at `url`: name -> commit (annotated tags peeled)."""
    try:
        git.Git.check_unsafe_protocols(url)
    except git.UnsafeProtocolError:
        raise SourceError(f"refused unsafe git URL {scrub(url)}") from None
    try:
        output = git.Git().execute(["git", "ls-remote", "--tags", "--", url], kill_after_timeout=timeout,
                                   env={"GIT_TERMINAL_PROMPT": "0"})
    except git.GitCommandError as exc:
        detail = exc.stderr if isinstance(exc.stderr, str) else ""
        lines = [line.strip(" '") for line in detail.replace("stderr:", "").splitlines()]
        detail = next((line for line in lines if line), "")  # git's first line says it
        raise SourceError(f"cannot list tags of {scrub(url)}: {scrub(detail) or f'exit {exc.status}'}") \
            from None
    except OSError as exc:
        raise SourceError(f"cannot run git ls-remote: {exc.strerror or exc}") from None
    return parse_ls_remote(str(output))


def read_tags(services: Iterable[str], url_template: str, parallelism: int = 8,
              timeout: float = DEFAULT_TAG_TIMEOUT) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """Tags of each service's repository, `parallelism` at a time: (tags, errors by service)."""
    wanted = list(services)
    found: dict[str, dict[str, str]] = {}
    errors: dict[str, str] = {}
    if not wanted:
        return found, errors

    def one(service: str) -> tuple[str, dict[str, str] | None, str | None]:
        try:
            return service, list_tags(repo_url(url_template, service), timeout), None
        except SourceError as exc:
            return service, None, str(exc)

    with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(wanted)))) as pool:
        for service, tags, error in pool.map(one, wanted):
            if tags is not None:
                found[service] = tags
            else:
                errors[service] = error or "unknown error"
    return found, errors


def _parse(data: bytes | None) -> dict[str, Any] | None:
    if data is None:
        return None
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("v2"), dict) else None


def service_file(instances: ServiceInstances, tags: Mapping[str, str], previous: bytes | None) -> bytes | None:
    """The new deployments.json of one service; None when there is nothing to write."""
    doc = deployments_document(instances.service, tags, instances.groups)
    old = _parse(previous)
    if not instances.complete and old is not None:
        for section in ("deployments", "controls"):
            kept = old["v2"].get(section)
            if isinstance(kept, dict):
                doc["v2"][section] = {**kept, **doc["v2"][section]}
    if previous is None and not doc["v2"]["deployments"] and not doc["v2"]["controls"]:
        return None  # no file and nothing deployed: "missing" already says so
    return encode_document(doc)


def describe(service: str, old: bytes | None, new: bytes) -> list[str]:
    """What changed in a service's file, one short line per deploy group or control."""
    before, after = _parse(old), _parse(new) or {"v2": {}}
    if old is not None and before is None:
        return ["rewritten (the previous file could not be parsed)"]
    lines: list[str] = []
    old_v2: dict[str, Any] = before["v2"] if before else {}
    new_v2: dict[str, Any] = after["v2"]
    for section, show in (("deployments", _show_deploy), ("controls", _show_control)):
        was, now = old_v2.get(section) or {}, new_v2.get(section) or {}
        for key in sorted(set(was) | set(now)):
            if was.get(key) == now.get(key):
                continue
            label = key.split(":", 1)[1] if section == "controls" and ":" in key else key
            if key not in now:
                lines.append(f"{label}: removed")
            else:
                lines.append(f"{label}: {show(now[key])}" +
                             (f" (was {show(was[key])})" if key in was else ""))
    return lines


def _show_deploy(entry: Any) -> str:
    if not isinstance(entry, dict):
        return "?"
    sha = str(entry.get("git_sha") or "?")[:8]
    return sha + (f"+{entry['image_version']}" if entry.get("image_version") else "")


def _show_control(entry: Any) -> str:
    if not isinstance(entry, dict):
        return "?"
    bounce = entry.get("force_bounce")
    return str(entry.get("desired_state")) + (f" (force_bounce {bounce})" if bounce else "")


@dataclass(frozen=True)
class ServiceChange:
    service: str
    changes: tuple[str, ...]


@dataclass
class GenerateResult:
    """What one run did: the commit (None: nothing changed), per-service changes and errors."""

    branch: str
    base: str | None = None
    commit: str | None = None
    changed: list[ServiceChange] = field(default_factory=list)
    #: service -> why its tags could not be read (its file was kept as it was)
    errors: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    attempts: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "branch": self.branch, "base": self.base, "commit": self.commit,
            "changed": [{"service": c.service, "changes": list(c.changes)} for c in self.changed],
            "errors": dict(sorted(self.errors.items())), "warnings": list(self.warnings),
            "attempts": self.attempts,
        }


def commit_message(changed: list[ServiceChange]) -> str:
    names = [c.service for c in changed]
    subject = (f"deployments: {', '.join(names)}" if len(names) <= 3
               else f"deployments: {len(names)} services")
    body = [f"{c.service}: {line}" for c in changed for line in c.changes]
    return subject + ("\n\n" + "\n".join(body) if body else "") + "\n"


def generate(source: SoaSource, branch: DeploymentsBranch, url_template: str, *,
             services: Iterable[str] | None = None, parallelism: int = 8,
             timeout: float = DEFAULT_TAG_TIMEOUT, attempts: int = DEFAULT_ATTEMPTS) -> GenerateResult:
    """Run the generator once for `services` (default: every service in `source`).

    Raises SourceError when the deployments branch cannot be fetched or pushed to, or when
    the branch kept moving for `attempts` tries.
    """
    result = GenerateResult(branch.branch)
    names, skipped = source.services()
    result.warnings.extend(str(issue) for issue in skipped)
    present = set(names)
    wanted = list(names) if services is None else list(dict.fromkeys(services))
    unknown = {s: "no such service in soa-configs" for s in wanted if s not in present}
    wanted = [s for s in wanted if s in present]
    known = [service_instances(source, s) for s in wanted]
    for item in known:
        if not item.complete:
            result.warnings.append(f"{item.service}: soa-configs have errors; entries of instances "
                                   "that cannot be read are kept as they were")
    result.errors = dict(unknown)
    for attempt in range(1, attempts + 1):
        result.attempts = attempt
        tip = branch.fetch()
        current = branch.read(tip, wanted)
        # a service with no instance needs no tags, unless it has a file to update
        needed = [s.service for s in known if s.groups or s.service in current]
        tags, errors = read_tags(needed, url_template, parallelism, timeout)
        result.errors = {**unknown, **errors}
        files: dict[str, bytes] = {}
        changed: list[ServiceChange] = []
        for item in known:
            if item.service in errors:
                continue  # unreadable: its file stays as it is
            new = service_file(item, tags.get(item.service, {}), current.get(item.service))
            if new is not None and new != current.get(item.service):
                files[path_of(item.service)] = new
                changed.append(ServiceChange(item.service, tuple(describe(
                    item.service, current.get(item.service), new))))
        result.base, result.changed = tip, changed
        if not files:
            result.commit = None
            return result
        sha = branch.commit(tip, files, commit_message(changed))
        if branch.push(sha):
            result.commit = sha
            return result
    raise SourceError(f"{branch.branch} of {branch.mirror.safe_url} kept moving: gave up after "
                      f"{attempts} attempts to push")
