"""A freshly applied rendering shows no drift on either backend, for every kind we render; an
edit by another field manager shows as drift at the right path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from reconciler.cluster.protocol import Cluster
from reconciler.engine.drift import Difference, differences
from tests.helpers import objects

K8S = """
plain:
  cpus: 0.5
  mem: 1024
  instances: 3
  env:
    FOO: bar
scaled:
  cpus: 1.5
  mem: 512
  min_instances: 2
  max_instances: 5
db:
  cpus: 1
  mem: 1024
  instances: 2
  persistent_volumes:
    - container_path: /data
      size: 10
      mode: RW
      storage_class_name: standard
full:
  instances: 2
  env: {DB_PASSWORD: SECRET(db_password), TOKEN: SHARED_SECRET(token)}
  extra_volumes: [{hostPath: /nail/srv/configs, containerPath: /nail/srv/configs, mode: RO}]
  secret_volumes: [{container_path: /secrets, secret_name: api_key, default_mode: "0400",
                    items: [{key: api_key, path: value, mode: "0440"}]}]
  projected_sa_volumes: [{container_path: /var/run/token, audience: sts.amazonaws.com}]
  node_selectors: {instance_type: m5.large, habitat: [a, b]}
  node_selectors_preferred: [{weight: 10, preferences: {region: [uswest1]}}]
  deploy_blacklist: [[region, useast1]]
  anti_affinity: [{service: other}]
  topology_spread_constraints: [{topology_key: topology.kubernetes.io/zone}]
  iam_role: arn:aws:iam::123456789012:role/app
  cap_add: [SYS_PTRACE]
  lifecycle: {pre_stop_drain_seconds: 5}
  prometheus_port: 9100
  prometheus_path: /metrics
  max_instances: 4
  autoscaling: {metrics_providers: [{type: uwsgi, moving_average_window_seconds: 600}]}
"""

CASES = {
    "plain": ["Deployment", "PodDisruptionBudget"],
    "scaled": ["Deployment", "PodDisruptionBudget", "HorizontalPodAutoscaler"],
    "db": ["StatefulSet", "PodDisruptionBudget"],
    "full": ["ServiceAccount", "Deployment", "PodDisruptionBudget", "HorizontalPodAutoscaler"],
}


def rendered(instance: str, namespace: str) -> list[dict[str, Any]]:
    """The instance's objects, moved into the test's namespace (the Namespace object left out)."""
    objs = objects(K8S, instance)
    out = []
    for kind in CASES[instance]:
        obj = copy.deepcopy(objs[kind])
        obj["metadata"]["namespace"] = namespace
        out.append(obj)
    assert set(objs) == {"Namespace", *CASES[instance]}
    return out


@pytest.mark.parametrize("instance", sorted(CASES))
def test_freshly_applied_objects_show_no_drift(cluster: Cluster, namespace: str, instance: str) -> None:
    for desired in rendered(instance, namespace):
        kind, name = desired["kind"], desired["metadata"]["name"]
        applied = cluster.apply(desired)
        assert differences(desired, applied) == [], f"{kind} as applied"
        live = cluster.get(kind, name, namespace)
        assert differences(desired, live) == [], f"{kind} read back"


def test_edit_by_another_manager_is_drift(cluster: Cluster, namespace: str) -> None:
    desired = rendered("plain", namespace)[0]
    cluster.apply(desired)
    container = desired["spec"]["template"]["spec"]["containers"][0]
    meta = {"name": desired["metadata"]["name"], "namespace": namespace}
    cluster.apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
                   "spec": {"template": {"spec": {"containers": [
                       {"name": container["name"], "image": "registry.example.com/other:v9",
                        "env": [{"name": "FOO", "value": "edited"}]}]}}}},
                  field_manager="kubectl-edit")
    live = cluster.get("Deployment", meta["name"], namespace)
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example.com/other:v9"
    foo = next(i for i, e in enumerate(container["env"]) if e["name"] == "FOO")
    main = container["name"]
    assert differences(desired, live) == [
        Difference(f"spec.template.spec.containers[{main}].env[FOO].value", "bar", "edited"),
        Difference(f"spec.template.spec.containers[{main}].image", container["image"], "registry.example.com/other:v9"),
    ]
    # A webhook's field, declared in ignore_differences, is no drift.
    ignore = ["/spec/template/spec/containers/0/image", f"/spec/template/spec/containers/0/env/{foo}/value"]
    assert differences(desired, live, ignore) == []


def test_replicas_scaled_by_someone_else_is_drift(cluster: Cluster, namespace: str) -> None:
    desired = rendered("plain", namespace)[0]
    cluster.apply(desired)
    meta = {"name": desired["metadata"]["name"], "namespace": namespace}
    cluster.apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": {"replicas": 7}},
                  field_manager="kubectl-scale")
    live = cluster.get("Deployment", meta["name"], namespace)
    assert differences(desired, live) == [Difference("spec.replicas", 3, 7)]
