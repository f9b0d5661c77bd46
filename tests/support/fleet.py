"""One service's soa-configs directory reconciled cycle after cycle onto a cluster, as the daemon
would: the harness of the contract scenarios (both backends)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.cluster.protocol import Cluster
from reconciler.config import ClusterConfig, RolloutBudget
from reconciler.reconcile.cycle import CycleResult, Mode, policy_for, reconcile
from reconciler.reconcile.revision import Revision
from reconciler.render.settings import RenderSettings
from reconciler.sources.directory import DirectoryTree

CLUSTER = "local"
GOOD, BAD, FIXED = "a" * 40, "b" * 40, "c" * 40


class Fleet:
    """One service's soa-configs directory and the cycles that reconcile it onto `cluster`."""

    def __init__(self, cluster: Cluster, root: Path, **settings: Any) -> None:
        self.cluster = cluster
        self.root = root
        self.service = f"svc{uuid.uuid4().hex[:8]}"
        self.domain = f"{self.service}.example.com"
        self.namespace = f"paastasvc-{self.service}"
        rollout = settings.pop("rollout", RolloutBudget())
        self.settings = ClusterConfig(CLUSTER, rollout=rollout, **settings)
        self.ledger_namespace = f"ledger-{self.service}"  # tests share the real control plane
        self.policy = policy_for(self.settings, self.domain, self.ledger_namespace)

    def revision(self) -> Revision:
        return Revision.of(DirectoryTree(self.root), [CLUSTER],
                           lambda c: RenderSettings(cluster=c, label_domain=self.domain), [self.service])

    def write(self, instances: str, groups: dict[str, str], *, controls: dict[str, str] | None = None,
              pipeline: str = "") -> None:
        """instances: kubernetes-local.yaml; groups: deploy group -> git sha (a sha starting with
        `b` gets a crash-looping image); controls: instance -> start|stop."""
        base = self.root / self.service
        base.mkdir(parents=True, exist_ok=True)
        (base / "service.yaml").write_text("description: scenario\n")
        (base / f"kubernetes-{CLUSTER}.yaml").write_text(instances)
        if pipeline:
            (base / "deploy.yaml").write_text(pipeline)
        deployments = {g: {"docker_image": f"services-{self.service}:paasta-{'crashloop-' if sha == BAD else ''}{sha}",
                           "git_sha": sha, "image_version": None} for g, sha in groups.items()}
        control = {f"{self.service}:{CLUSTER}.{i}": {"desired_state": state, "force_bounce": None}
                   for i, state in (controls or {}).items()}
        (base / "deployments.json").write_text(json.dumps({"v2": {"deployments": deployments, "controls": control}}))

    def cycle(self, *, apply: bool = True, **kw: Any) -> CycleResult:
        revision = self.revision()
        assert not [i for i in revision.view().issues if i.is_error], revision.view().issues
        result = reconcile(self.cluster, self.policy, revision, Mode(apply=apply, services=frozenset({self.service}),
                                                                     check_drift=True, **kw))
        assert not result.failed, [o.as_dict() for o in result.failed]
        return result

    def until(self, done: Callable[[CycleResult], bool], what: str, timeout: float = 90) -> CycleResult:
        """Run cycles until `done` holds for one; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.cycle()
            if done(result):
                return result
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}; last plan: "
                            f"{[a.as_dict() for a in result.plan.actions if a.action != 'noop']}")
            time.sleep(0.3)

    def settled(self, what: str = "every rollout complete and nothing to do") -> CycleResult:
        return self.until(lambda r: all(a.action == "noop" for a in r.plan.actions)
                          and all(h.state == "complete" for h in r.health.values()), what)

    def workload(self, instance: str, kind: str = "Deployment") -> dict[str, Any]:
        return self.cluster.get(kind, f"{self.service}-{instance}", self.namespace)

    def image(self, instance: str) -> str:
        return str(self.workload(instance)["spec"]["template"]["spec"]["containers"][0]["image"])

    def cleanup(self) -> None:
        for namespace in (self.namespace, self.ledger_namespace):
            try:
                self.cluster.delete("Namespace", namespace)
            except Exception:  # noqa: BLE001 - cleanup must not hide the test's own failure
                pass


