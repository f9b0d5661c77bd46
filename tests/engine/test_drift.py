"""Drift: a normalised subset comparison of desired and live objects."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from reconciler.engine.drift import Keyed, Difference, differences, report_path


def deployment(**container: Any) -> dict[str, Any]:
    main = {"name": "main", "image": "registry.example.com/app:v1",
            "ports": [{"containerPort": 8080}],
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
            "resources": {"requests": {"cpu": "1500m", "memory": "1024Mi"}},
            **container}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns", "labels": {"example.com/config_sha": "config1"}},
            "spec": {"replicas": 3,
                     "strategy": {"type": "RollingUpdate",
                                  "rollingUpdate": {"maxSurge": "100%", "maxUnavailable": "5%"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [main]}}}}


def container(obj: dict[str, Any], index: int = 0) -> dict[str, Any]:
    found: dict[str, Any] = obj["spec"]["template"]["spec"]["containers"][index]
    return found


def live_of(desired: dict[str, Any]) -> dict[str, Any]:
    """What the server stores: the applied object plus defaults and bookkeeping."""
    live = copy.deepcopy(desired)
    live["metadata"].update(uid="u-1", resourceVersion="7", generation=1, managedFields=[{"manager": "reconciler"}])
    live["spec"].update(revisionHistoryLimit=10, progressDeadlineSeconds=600)
    main = container(live)
    main.update(imagePullPolicy="IfNotPresent", terminationMessagePath="/dev/termination-log")
    main["ports"][0]["protocol"] = "TCP"
    live["status"] = {"replicas": 3}
    return live


def test_identical_and_server_defaults_are_no_drift() -> None:
    desired = deployment()
    assert differences(desired, desired) == []
    assert differences(desired, live_of(desired)) == []


def test_changed_image() -> None:
    desired = deployment()
    live = live_of(desired)
    container(live)["image"] = "registry.example.com/app:v2"
    assert differences(desired, live) == [Difference("spec.template.spec.containers[main].image",
                                                     "registry.example.com/app:v1", "registry.example.com/app:v2")]


def test_env_value_changed() -> None:
    desired = deployment()
    live = live_of(desired)
    container(live)["env"][1]["value"] = "20"
    assert differences(desired, live) == [Difference("spec.template.spec.containers[main].env[B].value", "2", "20")]


def test_env_is_keyed_by_name_not_position() -> None:
    # Kubernetes merges env by name; order only matters to $(VAR) expansion, which the
    # reconciler's own apply fixes along with any real change. Reordering alone is no drift.
    desired = deployment()
    live = live_of(desired)
    container(live)["env"].reverse()
    assert differences(desired, live) == []
    container(live)["env"][0]["value"] = "changed"  # now B, at index 1 of desired
    assert differences(desired, live) == [Difference("spec.template.spec.containers[main].env[B].value", "2", "changed")]


def test_missing_env_entry_and_extra_live_entry() -> None:
    desired = deployment()
    live = live_of(desired)
    container(live)["env"] = [{"name": "A", "value": "1"}, {"name": "INJECTED", "value": "x"}]
    assert differences(desired, live) == [Difference("spec.template.spec.containers[main].env[B]",
                                                     {"name": "B", "value": "2"}, None)]


def test_containers_keyed_by_name_and_sidecars_ignored() -> None:
    desired = deployment()
    second = {"name": "helper", "image": "helper:v1"}
    desired["spec"]["template"]["spec"]["containers"].append(second)
    live = live_of(desired)
    containers = live["spec"]["template"]["spec"]["containers"]
    containers.reverse()
    containers.insert(0, {"name": "injected-sidecar", "image": "mesh:v1"})
    assert differences(desired, live) == []
    containers[1]["image"] = "helper:v2"
    assert differences(desired, live) == [Difference("spec.template.spec.containers[helper].image", "helper:v1", "helper:v2")]


def test_ports_keyed_by_container_port() -> None:
    desired = deployment(ports=[{"containerPort": 8080, "name": "http"}, {"containerPort": 9090, "name": "metrics"}])
    live = live_of(desired)
    container(live)["ports"] = [{"containerPort": 9090, "name": "metrics", "protocol": "TCP"},
                                {"containerPort": 8080, "name": "http", "protocol": "TCP"}]
    assert differences(desired, live) == []
    container(live)["ports"][0]["name"] = "prom"
    assert differences(desired, live) == [Difference("spec.template.spec.containers[main].ports[9090/TCP].name", "metrics", "prom")]


def test_volume_mounts_and_claim_templates_keyed() -> None:
    desired = deployment(volumeMounts=[{"name": "a", "mountPath": "/a"}, {"name": "b", "mountPath": "/b"}])
    desired["spec"]["volumeClaimTemplates"] = [
        {"metadata": {"name": "a"}, "spec": {"resources": {"requests": {"storage": "10Gi"}}}},
        {"metadata": {"name": "b"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}}]
    live = live_of(desired)
    container(live)["volumeMounts"].reverse()
    live["spec"]["volumeClaimTemplates"] = [
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "b"},
         "spec": {"resources": {"requests": {"storage": "1024Mi"}}, "volumeMode": "Filesystem"},
         "status": {"phase": "Pending"}},
        {"metadata": {"name": "a"}, "spec": {"resources": {"requests": {"storage": "20Gi"}}}}]
    assert differences(desired, live) == [
        Difference("spec.volumeClaimTemplates[a].spec.resources.requests.storage", "10Gi", "20Gi")]


@pytest.mark.parametrize(("desired_value", "live_value"), [
    ("1500m", "1500m"), ("1500m", 1.5), ("1500m", "1.5"), (1.5, "1500m"), ("1", 1), ("0.5", "500m"),
    ("2", "2000m"), ("100m", "0.1"),
])
def test_cpu_quantities_equal(desired_value: Any, live_value: Any) -> None:
    desired = deployment(resources={"limits": {"cpu": desired_value}})
    live = live_of(desired)
    container(live)["resources"]["limits"]["cpu"] = live_value
    assert differences(desired, live) == []


@pytest.mark.parametrize(("desired_value", "live_value"), [
    ("1024Mi", "1Gi"), ("1Gi", "1073741824"), ("1G", "1000M"), ("512Mi", "0.5Gi"), ("1k", "1000"),
])
def test_memory_quantities_equal(desired_value: str, live_value: str) -> None:
    desired = deployment(resources={"requests": {"memory": desired_value}})
    live = live_of(desired)
    container(live)["resources"]["requests"]["memory"] = live_value
    assert differences(desired, live) == []


def test_quantity_change_reports_the_values_as_written() -> None:
    desired = deployment()
    live = live_of(desired)
    container(live)["resources"]["requests"].update(cpu="2", memory="1Gi")  # 1Gi == 1024Mi
    assert differences(desired, live) == [
        Difference("spec.template.spec.containers[main].resources.requests.cpu", "1500m", "2")]


def test_1g_is_not_1gi() -> None:
    desired = deployment(resources={"requests": {"memory": "1G"}})
    live = live_of(desired)
    container(live)["resources"]["requests"]["memory"] = "1Gi"
    assert len(differences(desired, live)) == 1


def test_int_or_string() -> None:
    desired = deployment()
    desired["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": 1, "maxUnavailable": "5%"}
    container(desired)["readinessProbe"] = {"httpGet": {"path": "/", "port": 8080}}
    live = live_of(desired)
    live["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = "1"
    container(live)["readinessProbe"]["httpGet"]["port"] = "8080"
    assert differences(desired, live) == []
    live["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = 5  # 5 pods is not 5%
    assert differences(desired, live) == [Difference("spec.strategy.rollingUpdate.maxUnavailable", "5%", 5)]


def test_percent_stays_a_string() -> None:
    desired = deployment()
    live = live_of(desired)
    live["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = "50%"
    assert differences(desired, live) == [Difference("spec.strategy.rollingUpdate.maxSurge", "100%", "50%")]


def test_missing_live_field() -> None:
    desired = deployment()
    live = live_of(desired)
    del live["spec"]["replicas"]
    del container(live)["resources"]["requests"]["memory"]
    assert differences(desired, live) == [
        Difference("spec.replicas", 3, None),
        Difference("spec.template.spec.containers[main].resources.requests.memory", "1024Mi", None)]


def test_missing_container() -> None:
    desired = deployment()
    live = live_of(desired)
    container(live)["name"] = "renamed"
    [diff] = differences(desired, live)
    assert diff.path == "spec.template.spec.containers[main]" and diff.live is None
    assert diff.desired == container(desired)


def test_empty_desired_values_the_server_drops_are_no_drift() -> None:
    desired = deployment(args=[], command=[], securityContext={})
    desired["metadata"]["annotations"] = {}
    desired["spec"]["minReadySeconds"] = 0
    desired["spec"]["paused"] = False
    desired["spec"]["template"]["spec"]["volumes"] = []
    desired["spec"]["template"]["spec"]["affinity"] = {"nodeAffinity": {}}
    live = live_of(deployment())
    assert differences(desired, live) == []


def test_empty_desired_value_against_a_live_value_is_drift() -> None:
    desired = deployment(args=[])
    live = live_of(desired)
    container(live)["args"] = ["--debug"]
    assert differences(desired, live) == [Difference("spec.template.spec.containers[main].args[0]", None, "--debug")]


def test_atomic_lists_compare_by_position_and_length() -> None:
    desired = deployment(args=["--a", "--b"])
    live = live_of(desired)
    container(live)["args"] = ["--b", "--a", "--c"]
    assert differences(desired, live) == [
        Difference("spec.template.spec.containers[main].args[0]", "--a", "--b"),
        Difference("spec.template.spec.containers[main].args[1]", "--b", "--a"),
        Difference("spec.template.spec.containers[main].args[2]", None, "--c")]


def test_only_desired_fields_are_compared() -> None:
    desired = deployment()
    live = live_of(desired)
    live["metadata"]["labels"]["added-by"] = "someone"
    live["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "3"}
    container(live)["env"].append({"name": "EXTRA", "value": "x"})
    assert differences(desired, live) == []


def test_label_paths_are_quoted() -> None:
    desired = deployment()
    live = live_of(desired)
    live["metadata"]["labels"]["example.com/config_sha"] = "config2"
    assert differences(desired, live) == [
        Difference('metadata.labels["example.com/config_sha"]', "config1", "config2")]


def test_ignore_pointers() -> None:
    desired = deployment()
    desired["spec"]["template"]["metadata"]["annotations"] = {"injected-by": "git"}
    live = live_of(desired)
    live["spec"]["template"]["metadata"]["annotations"]["injected-by"] = "webhook"
    container(live)["image"] = "mirror.example.com/app:v1"
    live["metadata"]["labels"]["example.com/config_sha"] = "other"
    ignore = ["/spec/template/metadata/annotations/injected-by", "/spec/template/spec/containers/0/image",
              "/metadata/labels/example.com~1config_sha", "/spec/does/not/exist"]
    assert differences(desired, live, ignore) == []
    assert len(differences(desired, live, ignore[:2])) == 1


def test_type_change_is_drift() -> None:
    desired = deployment()
    live = live_of(desired)
    live["spec"]["template"]["spec"]["containers"] = None
    [diff] = differences(desired, live)
    assert diff.path == "spec.template.spec.containers" and diff.live is None


def test_report_path() -> None:
    assert report_path(["spec", "template", "spec", "containers", Keyed("main"), "image"]) == \
        "spec.template.spec.containers[main].image"
    assert report_path(["spec", "args", 0]) == "spec.args[0]"
    assert report_path(["metadata", "labels", "a.b/c"]) == 'metadata.labels["a.b/c"]'
    assert report_path([]) == ""


def test_inputs_are_not_modified() -> None:
    desired, live = deployment(args=[]), live_of(deployment())
    before = copy.deepcopy((desired, live))
    differences(desired, live, ["/spec/replicas"])
    assert (desired, live) == before
