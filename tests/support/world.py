"""A soa-configs remote, service remotes, a reconciler.yaml and daemons: the world the end-to-end
tests drive the daemon in (the simulated cluster or the real control plane as the target)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from reconciler.cluster.protocol import Cluster
from tests.support.daemon import DaemonProcess
from tests.support.gitremote import GitRemote

SECRET = "e2e-webhook-secret"


def deploy_tag(group: str, when: datetime | None = None) -> str:
    return f"paasta-{group}-{(when or datetime.now(timezone.utc)).strftime('%Y%m%dT%H%M%S')}-deploy"


class World:
    """A soa-configs remote, service remotes, a reconciler.yaml, the target cluster and daemons."""

    def __init__(self, root: Path, cluster_yaml: str, cluster: Cluster, *, prune: bool = False) -> None:
        self.root = root
        self.domain = f"e2e{uuid.uuid4().hex[:6]}.example.com"
        self.cluster = cluster
        (root / "remotes").mkdir(parents=True)
        self.soa = GitRemote(root / "remotes", "soa-configs")
        self.services: dict[str, GitRemote] = {}
        self.config = root / "reconciler.yaml"
        self.config.write_text(f"""
soa_configs:
  repo: {self.soa.url}
  branch: main
  deployments_branch: deployments
  poll_interval: 1s
  webhook_secret_env: RECONCILER_E2E_SECRET
service_repos:
  url_template: {(root / 'remotes').as_uri()}/{{service}}.git
  generate_interval: 1s
clusters:
  local:
{cluster_yaml}
    prune: {str(prune).lower()}
    rollout: {{max_concurrent_bounces: 4, max_unavailable_fraction: 1.0}}
label_domain: {self.domain}
lease_namespace: lease-{self.domain.split('.')[0]}
state_dir: {root / 'state'}
""")
        self.daemons: list[DaemonProcess] = []

    def service(self, name: str, instances: str) -> GitRemote:
        """A service in soa-configs (instances of cluster `local`) and its own repository."""
        self.soa.commit({f"{name}/service.yaml": f"description: {name}\n",
                         f"{name}/kubernetes-local.yaml": instances}, message=f"add {name}")
        repo = GitRemote(self.root / "remotes", name)
        repo.commit({"README": f"{name}\n"}, message="first")
        self.services[name] = repo
        return repo

    def deploy(self, service: str, group: str, when: datetime | None = None, **files: str) -> str:
        """A new commit in the service repository, tagged for deployment to `group`; its sha."""
        repo = self.services[service]
        sha = repo.commit({"README": f"{service} {uuid.uuid4().hex}\n", **files}, message="change")
        repo.tag(deploy_tag(group, when), sha)
        return sha

    def daemon(self, *args: str, env: dict[str, str] | None = None) -> DaemonProcess:
        process = DaemonProcess(self.config, self.root / f"daemon{len(self.daemons)}.log",
                                "--reconcile-interval", "0.5", *args,
                                env={"RECONCILER_E2E_SECRET": SECRET, **(env or {})})
        self.daemons.append(process)
        return process.start()

    def namespace(self, service: str) -> str:
        return f"paastasvc-{service.replace('_', '--')}"

    def workload(self, service: str, instance: str) -> dict[str, Any]:
        return self.cluster.get("Deployment", f"{service}-{instance}", self.namespace(service))

    def synced(self, daemon: DaemonProcess, service: str, instance: str, sha: str) -> dict[str, Any] | None:
        row = daemon.row(service, instance)
        ok = row is not None and row["status"] == "Synced" and (row["live"] or {}).get("git_sha") == sha
        return row if ok else None

    def close(self) -> None:
        for daemon in self.daemons:
            daemon.stop()
        for service in self.services:
            try:
                self.cluster.delete("Namespace", self.namespace(service))
            except Exception:  # noqa: BLE001 - cleanup
                pass
