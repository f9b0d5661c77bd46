"""Hand edits on both backends: a live-only field an editing tool added (`kubectl set env
DEBUG=1`) is drift, shown by merge-key path with its value hashed, and healed by taking its
ownership first; `kubectl rollout restart`'s annotation is reported, never healed."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from tests.support.fleet import CLUSTER, GOOD

KEY = b"installation-key"


def env_names(f: Any) -> list[str]:
    return [e["name"] for e in f.workload("a")["spec"]["template"]["spec"]["containers"][0].get("env", [])]


def edit(f: Any, manager: str, spec: dict[str, Any]) -> None:
    f.cluster.apply({"apiVersion": "apps/v1", "kind": "Deployment",
                     "metadata": {"name": f"{f.service}-a", "namespace": f.namespace}, "spec": spec},
                    field_manager=manager, force=False)


def test_an_env_entry_added_by_hand_is_drift_and_healed(fleet: Any) -> None:
    f = fleet()
    f.policy = dataclasses.replace(f.policy, redact_key=KEY)
    f.write("a: {instances: 1}\n", {f"{CLUSTER}.a": GOOD})
    f.cycle()
    f.settled()
    edit(f, "kubectl-set", {"template": {"spec": {"containers": [{"name": "a", "env": [{"name": "DEBUG", "value": "1"}]}]}}})
    assert "DEBUG" in env_names(f)

    healing = f.cycle()
    (update,) = [a for a in healing.plan.actions if a.action == "update"]
    (found,) = update.differences
    assert found.path == "spec.template.spec.containers[a].env[DEBUG]" and found.desired is None
    assert found.live["name"] == "DEBUG" and found.live["value"].startswith("<redacted hmac:")
    assert '"1"' not in update.reason and "env[DEBUG]" in update.reason
    assert "DEBUG" not in env_names(f)  # ownership taken over, then removed by the apply
    assert "DEBUG" not in json.dumps(f.workload("a")["metadata"]["managedFields"])  # nobody owns it now
    settled = f.settled()
    assert not [a for a in settled.plan.actions if a.action != "noop"]


def test_a_rollout_restart_is_reported_never_healed(fleet: Any) -> None:
    f = fleet()
    f.write("a: {instances: 1}\n", {f"{CLUSTER}.a": GOOD})
    f.cycle()
    f.settled()
    stamp = "2026-12-07T10:00:00Z"
    edit(f, "kubectl-rollout", {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}})
    for _ in range(2):
        result = f.cycle()
        (action,) = [a for a in result.plan.actions if a.kind == "Deployment"]
        assert action.action == "noop" and "reported, never healed" in action.reason
        assert [(d.path, d.heal) for d in action.differences] == [
            ('spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]', False)]
    annotations = f.workload("a")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["kubectl.kubernetes.io/restartedAt"] == stamp
