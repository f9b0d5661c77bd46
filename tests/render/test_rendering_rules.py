"""One test per rendering rule of soa-configs.md §5 (pure: configs in, objects out)."""

from __future__ import annotations

import pytest

from reconciler.render.names import sanitise, volume_name, workload_name
from reconciler.render.settings import RenderSettings
from tests.conftest import SHA
from tests.helpers import CLUSTER, main_container, objects, render, workload


def env_of(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


# --- names -------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("main", "main"), ("api_v2", "api--v2"), ("Web_Frontend", "web--frontend"),
    ("_private", "underscore-private"), ("a__b", "a----b"),
])
def test_sanitise(raw: str, expected: str) -> None:
    assert sanitise(raw) == expected


def test_workload_container_and_namespace_names() -> None:
    objs = objects("api_v2: {cpus: 1}", "api_v2", service="web_frontend")
    work = objs["Deployment"]
    assert work["metadata"]["name"] == workload_name("web_frontend", "api_v2") == "web--frontend-api--v2"
    assert work["metadata"]["namespace"] == "paastasvc-web--frontend"
    assert work["spec"]["template"]["spec"]["containers"][0]["name"] == "api--v2"
    assert objs["Namespace"]["metadata"]["name"] == "paastasvc-web--frontend"


def test_namespace_key_overrides_default() -> None:
    objs = objects("main: {namespace: shared-apps}")
    assert objs["Deployment"]["metadata"]["namespace"] == "shared-apps"
    assert objs["Namespace"]["metadata"]["name"] == "shared-apps"


def test_a_namespace_outside_allowed_namespaces_is_invalid_on_that_cluster() -> None:
    bounded = RenderSettings(cluster=CLUSTER, allowed_namespaces=("paastasvc-*", "team-*"))
    result = render("main: {namespace: kube-system}", settings=bounded)
    assert not result.objects
    assert "namespace 'kube-system' is outside this cluster's allowed_namespaces ['paastasvc-*', 'team-*']" \
        in result.error_text()
    assert render("main: {namespace: team-a}", settings=bounded).objects
    assert render("main: {}", settings=bounded).objects  # paastasvc-<service>
    assert render("main: {namespace: kube-system}").objects  # no bound without a cluster config


def test_a_service_account_outside_allowed_service_accounts_is_invalid() -> None:
    bounded = RenderSettings(cluster=CLUSTER, allowed_service_accounts=("app-*",))
    result = render("main: {service_account_name: cluster-admin}", settings=bounded)
    assert not result.objects and "allowed_service_accounts ['app-*']" in result.error_text()
    objs = objects("main: {service_account_name: app-web}", settings=bounded)
    assert objs["Deployment"]["spec"]["template"]["spec"]["serviceAccountName"] == "app-web"


@pytest.mark.parametrize("path, expected", [
    ("/var/lib/cache", "pv--slash-varslash-libslash-cache"),
    ("/data/", "pv--slash-data"),
    ("/opt/my_app.d", "pv--slash-optslash-my--appdot-d"),
])
def test_volume_names(path: str, expected: str) -> None:
    assert volume_name(path) == expected


# --- labels and selector -----------------------------------------------------------------------

def test_labels_selector_and_pod_template_labels() -> None:
    work = workload("main: {deploy_group: prod.main}", deployed={"prod.main": SHA})
    d = "paasta.yelp.com/"
    labels = work["metadata"]["labels"]
    assert labels[d + "service"] == "svc" and labels[d + "instance"] == "main"
    assert labels[d + "git_sha"] == SHA
    assert labels[d + "managed"] == "true" and labels[d + "autoscaled"] == "false"
    assert labels[d + "cluster"] == CLUSTER
    assert labels[d + "config_sha"].startswith("config") and len(labels[d + "config_sha"]) == 14
    assert work["spec"]["selector"] == {"matchLabels": {d + "service": "svc", d + "instance": "main"}}
    pod = work["spec"]["template"]["metadata"]["labels"]
    assert pod == {**labels, d + "deploy_group": "prod.main"}


def test_label_domain_is_configurable() -> None:
    settings = RenderSettings(cluster=CLUSTER, label_domain="example.com")
    objs = render("main: {}", settings=settings).objects
    for obj in objs:
        assert all(k.startswith("example.com/") for k in obj["metadata"]["labels"])


# --- workload kind, replicas, strategy ------------------------------------------------------------

def test_deployment_by_default_with_instances_as_replicas() -> None:
    work = workload("main: {instances: 7}")
    assert work["kind"] == "Deployment" and work["spec"]["replicas"] == 7


def test_default_replicas_is_one() -> None:
    assert workload("main: {cpus: 1}")["spec"]["replicas"] == 1


def test_stop_control_sets_zero_replicas() -> None:
    work = workload("main: {instances: 5}",
                    controls={f"svc:{CLUSTER}.main": {"desired_state": "stop", "force_bounce": None}})
    assert work["spec"]["replicas"] == 0


@pytest.mark.parametrize("factor, expected", [
    (None, "5%"), (0.9, "9%"), (0.75, "25%"), (0.5, "50%"), (0.33, "67%"), (1, "0%"), (0, "100%"),
])
def test_crossover_strategy_truncates_like_paasta(factor: float | None, expected: str) -> None:
    key = "" if factor is None else f"bounce_margin_factor: {factor}"
    work = workload(f"main: {{cpus: 1, {key}}}" if key else "main: {cpus: 1}")
    assert work["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {
        "maxSurge": "100%", "maxUnavailable": expected}}


def test_brutal_and_downthenup_strategies() -> None:
    assert workload("main: {bounce_method: brutal}")["spec"]["strategy"]["rollingUpdate"] == {
        "maxSurge": "100%", "maxUnavailable": "100%"}
    assert workload("main: {bounce_method: downthenup}")["spec"]["strategy"] == {"type": "Recreate"}


def test_min_task_uptime_and_progress_deadline() -> None:
    settings = RenderSettings(cluster=CLUSTER, progress_deadline_seconds=120)
    result = render("main: {bounce_health_params: {min_task_uptime: 30}}", settings=settings)
    work = {o["kind"]: o for o in result.objects}["Deployment"]
    assert work["spec"]["minReadySeconds"] == 30
    assert work["spec"]["progressDeadlineSeconds"] == 120


def test_persistent_volumes_make_a_statefulset() -> None:
    work = workload("""
        main:
          instances: 3
          pod_management_policy: Parallel
          persistent_volumes:
          - {container_path: /var/lib/data, size: 20, mode: RW, storage_class_name: gp3}
          - {container_path: /etc/ro/, size: 1, mode: RO}
    """)
    assert work["kind"] == "StatefulSet"
    spec = work["spec"]
    assert spec["serviceName"] == "svc-main" and spec["podManagementPolicy"] == "Parallel"
    assert "strategy" not in spec
    claims = spec["volumeClaimTemplates"]
    assert claims[0] == {"metadata": {"name": "pv--slash-varslash-libslash-data"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "20Gi"}},
        "storageClassName": "gp3"}}
    assert "storageClassName" not in claims[1]["spec"]
    mounts = spec["template"]["spec"]["containers"][0]["volumeMounts"]
    assert mounts == [{"name": "pv--slash-varslash-libslash-data", "mountPath": "/var/lib/data"},
                      {"name": "pv--slash-etcslash-ro", "mountPath": "/etc/ro/", "readOnly": True}]


def test_statefulset_defaults_ordered_and_read_only_like_paasta() -> None:
    work = workload("main: {persistent_volumes: [{container_path: /d, size: 1}]}")
    assert work["spec"]["podManagementPolicy"] == "OrderedReady"
    mount = work["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]
    assert mount == {"name": "pv--slash-d", "mountPath": "/d", "readOnly": True}


# --- autoscaling -------------------------------------------------------------------------------

def test_autoscaled_workload_has_no_replicas_and_an_hpa() -> None:
    objs = objects("main: {min_instances: 3, max_instances: 30, instances: 9}")
    assert "replicas" not in objs["Deployment"]["spec"]
    assert objs["Deployment"]["metadata"]["labels"]["paasta.yelp.com/autoscaled"] == "true"
    hpa = objs["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["minReplicas"] == 3 and hpa["spec"]["maxReplicas"] == 30
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "svc-main"}
    assert hpa["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]


def test_hpa_metrics_from_providers() -> None:
    hpa = objects("""
        main:
          max_instances: 10
          autoscaling:
            metrics_providers: [{type: cpu, setpoint: 0.57}, {type: memory, setpoint: 0.75}]
            scaledown_policies: {stabilizationWindowSeconds: 60}
    """)["HorizontalPodAutoscaler"]
    targets = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"]
               for m in hpa["spec"]["metrics"]}
    assert targets == {"cpu": 56, "memory": 75}  # int(0.57 * 100) == 56, as PaaSTA computes it
    assert hpa["spec"]["minReplicas"] == 1
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 60


def test_an_autoscaled_statefulset_gets_no_hpa_and_runs_min_instances_like_paasta() -> None:
    objs = objects("main: {min_instances: 2, max_instances: 4, persistent_volumes: [{container_path: /d, size: 1}]}")
    assert "HorizontalPodAutoscaler" not in objs
    assert objs["StatefulSet"]["spec"]["replicas"] == 2
    result = render("main: {min_instances: 2, max_instances: 4, persistent_volumes: [{container_path: /d, size: 1}]}")
    assert "gets no HorizontalPodAutoscaler" in " ".join(i.message for i in result.issues)


@pytest.mark.parametrize("provider, metric, target", [
    ("{type: uwsgi, moving_average_window_seconds: 600}", "uwsgi-prom-600", {"type": "Value", "value": "800m"}),
    ("{type: worker-load}", "worker-load-prom-1800", {"type": "AverageValue", "averageValue": "800m"}),
    ("{type: active-requests, desired_active_requests_per_replica: 5}", "svc-main-active-requests-prom",
     {"type": "Value", "value": "1"}),
    ("{type: arbitrary-promql, metrics_query: 'sum(x)'}", "svc-main-arbitrary-promql-prom",
     {"type": "AverageValue", "averageValue": "1"}),
    ("{type: arbitrary-promql, target_type: Value, setpoint: 2.5}", "svc-main-arbitrary-promql-prom",
     {"type": "Value", "value": "2500m"}),
])
def test_adapter_providers_are_object_metrics_on_the_deployment_like_paasta(provider: str, metric: str,
                                                                             target: dict) -> None:
    objs = objects(f"main: {{max_instances: 4, autoscaling: {{metrics_providers: [{provider}]}}}}")
    (found,) = objs["HorizontalPodAutoscaler"]["spec"]["metrics"]
    assert found["type"] == "Object" and found["object"]["metric"]["name"] == metric
    assert found["object"]["describedObject"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "svc-main"}
    assert found["object"]["target"] == target


def test_a_bespoke_decision_policy_gets_no_hpa() -> None:
    objs = objects("main: {max_instances: 4, autoscaling: {metrics_providers: [{type: cpu, decision_policy: bespoke}]}}")
    assert "HorizontalPodAutoscaler" not in objs
    assert "replicas" not in objs["Deployment"]["spec"]  # another autoscaler owns them


def test_stopping_autoscaled_instance_drops_hpa_and_sets_zero() -> None:
    objs = objects("main: {max_instances: 10}",
                   controls={f"svc:{CLUSTER}.main": {"desired_state": "stop"}})
    assert "HorizontalPodAutoscaler" not in objs
    assert objs["Deployment"]["spec"]["replicas"] == 0


# --- PodDisruptionBudget -----------------------------------------------------------------------

def test_pdb_defaults_to_cluster_setting() -> None:
    pdb = objects("main: {}")["PodDisruptionBudget"]
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == {"paasta.yelp.com/service": "svc",
                                                      "paasta.yelp.com/instance": "main"}
    settings = RenderSettings(cluster=CLUSTER, pdb_max_unavailable="20%")
    pdb = {o["kind"]: o for o in render("main: {}", settings=settings).objects}["PodDisruptionBudget"]
    assert pdb["spec"]["maxUnavailable"] == "20%"


def test_pdb_follows_explicit_bounce_margin_factor() -> None:
    assert objects("main: {bounce_margin_factor: 0.9}")["PodDisruptionBudget"]["spec"][
        "maxUnavailable"] == "9%"


# --- container ---------------------------------------------------------------------------------

def test_image_with_and_without_registry() -> None:
    image = f"services-svc:paasta-{SHA}"
    assert main_container("main: {}")["image"] == image
    settings = RenderSettings(cluster=CLUSTER, docker_registry="registry.example.com")
    work = {o["kind"]: o for o in render("main: {}", settings=settings).objects}["Deployment"]
    assert work["spec"]["template"]["spec"]["containers"][0]["image"] == f"registry.example.com/{image}"


def test_service_yaml_docker_registry_overrides_cluster() -> None:
    settings = RenderSettings(cluster=CLUSTER, docker_registry="registry.example.com")
    result = render("main: {}", settings=settings, service_yaml="docker_registry: other.example.org\n")
    container = {o["kind"]: o for o in result.objects}["Deployment"]["spec"]["template"]["spec"][
        "containers"][0]
    assert container["image"].startswith("other.example.org/services-svc:")


def test_cmd_string_list_and_args() -> None:
    assert main_container("main: {cmd: ./run --fast}")["command"] == ["sh", "-c", "./run --fast"]
    assert main_container("main: {cmd: [./run, --fast]}")["command"] == ["./run", "--fast"]
    c = main_container("main: {args: [--x, '1']}")
    assert c["args"] == ["--x", "1"] and "command" not in c
    assert "args" not in main_container("main: {}") and "command" not in main_container("main: {}")


def test_port_and_resources() -> None:
    c = main_container("main: {cpus: 0.25, cpu_burst_add: 0.5, mem: 512, disk: 2048, container_port: 9090}")
    assert c["ports"] == [{"containerPort": 9090}]
    assert c["resources"] == {
        "requests": {"cpu": "250m", "memory": "512Mi", "ephemeral-storage": "2048Mi"},
        "limits": {"cpu": "750m", "memory": "512Mi", "ephemeral-storage": "2048Mi"}}


def test_resource_defaults() -> None:
    c = main_container("main: {}")
    assert c["resources"]["requests"] == {"cpu": "1", "memory": "4096Mi", "ephemeral-storage": "1024Mi"}
    assert c["resources"]["limits"]["cpu"] == "2"


def test_cpu_limit_is_exact_decimal() -> None:
    assert main_container("main: {cpus: 0.1}")["resources"]["limits"]["cpu"] == "1100m"


def test_platform_environment() -> None:
    env = env_of(main_container("main: {cpus: 0.5, mem: 1024}"))
    assert env == {
        "PAASTA_SERVICE": "svc", "PAASTA_INSTANCE": "main", "PAASTA_CLUSTER": CLUSTER,
        "PAASTA_DEPLOY_GROUP": f"{CLUSTER}.main",
        "PAASTA_DOCKER_IMAGE": f"services-svc:paasta-{SHA}", "PAASTA_GIT_SHA": SHA[:8],
        "PAASTA_RESOURCE_CPUS": "0.5", "PAASTA_RESOURCE_MEM": "1024", "PAASTA_RESOURCE_DISK": "1024",
        "PAASTA_PORT": "8888",
    }


def test_pod_facts_from_the_downward_api() -> None:
    env = main_container("main: {}")["env"]
    from_pod = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in env if "valueFrom" in e}
    assert from_pod == {"PAASTA_POD_IP": "status.podIP", "POD_NAME": "metadata.name",
                        "PAASTA_HOST": "spec.nodeName"}
    overridden = main_container("main: {env: {POD_NAME: fixed}}")["env"]
    assert [e for e in overridden if e["name"] == "POD_NAME"] == [{"name": "POD_NAME", "value": "fixed"}]


def test_user_env_merges_and_overrides_platform_but_not_port() -> None:
    env = env_of(main_container(
        "main: {env: {FOO: bar, PAASTA_CLUSTER: custom, PAASTA_PORT: '1'}}",
        service_yaml="env: {LOG_LEVEL: info, FOO: base}\n"))
    assert env["FOO"] == "bar" and env["LOG_LEVEL"] == "info"
    assert env["PAASTA_CLUSTER"] == "custom" and env["PAASTA_PORT"] == "8888"


def test_image_version_suffix() -> None:
    deployments = ('{"v2": {"deployments": {"%s.main": {"docker_image": "services-svc:paasta-%s-v7", '
                   '"git_sha": "%s", "image_version": "v7"}}, "controls": {}}}' % (CLUSTER, SHA, SHA))
    work = workload("main: {}", deployments=deployments)
    assert work["metadata"]["labels"]["paasta.yelp.com/git_sha"] == SHA
    env = env_of(work["spec"]["template"]["spec"]["containers"][0])
    assert env["PAASTA_GIT_SHA"] == SHA[:8] and env["PAASTA_IMAGE_VERSION"] == "v7"
    assert env["PAASTA_DOCKER_IMAGE"] == f"services-svc:paasta-{SHA}-v7"


def test_no_probes_without_healthcheck_mode() -> None:
    c = main_container("main: {healthcheck_uri: /x}")
    assert "livenessProbe" not in c and "readinessProbe" not in c


@pytest.mark.parametrize("mode, action", [
    ("http", {"httpGet": {"path": "/health", "port": 8080, "scheme": "HTTP"}}),
    ("https", {"httpGet": {"path": "/health", "port": 8080, "scheme": "HTTPS"}}),
    ("tcp", {"tcpSocket": {"port": 8080}}),
])
def test_network_probes(mode: str, action: dict) -> None:
    c = main_container(f"main: {{healthcheck_mode: {mode}, healthcheck_uri: /health, container_port: 8080}}")
    expected = {"failureThreshold": 30, "initialDelaySeconds": 60, "periodSeconds": 10,
                "timeoutSeconds": 10, **action}
    assert c["livenessProbe"] == c["readinessProbe"] == expected


def test_cmd_probe_with_every_key() -> None:
    c = main_container("""
        main:
          healthcheck_mode: cmd
          healthcheck_cmd: /bin/check
          healthcheck_grace_period_seconds: 5
          healthcheck_interval_seconds: 3
          healthcheck_timeout_seconds: 2
          healthcheck_max_consecutive_failures: 4
    """)
    assert c["livenessProbe"] == {"exec": {"command": ["/bin/sh", "-c", "/bin/check"]},
                                  "failureThreshold": 4, "initialDelaySeconds": 5,
                                  "periodSeconds": 3, "timeoutSeconds": 2}


def test_http_probe_default_uri() -> None:
    assert main_container("main: {healthcheck_mode: http}")["livenessProbe"]["httpGet"]["path"] == "/status"


def test_termination_grace_period() -> None:
    pod = workload("main: {lifecycle: {termination_grace_period_seconds: 120}}")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 120
    assert "terminationGracePeriodSeconds" not in workload("main: {}")["spec"]["template"]["spec"]


def test_pool_node_selector_only_with_cluster_setting() -> None:
    assert "nodeSelector" not in workload("main: {pool: batch}")["spec"]["template"]["spec"]
    settings = RenderSettings(cluster=CLUSTER, pool_node_label="node.example.com/pool")
    work = {o["kind"]: o for o in render("main: {pool: batch}", settings=settings).objects}["Deployment"]
    assert work["spec"]["template"]["spec"]["nodeSelector"] == {"node.example.com/pool": "batch"}
    work = {o["kind"]: o for o in render("main: {}", settings=settings).objects}["Deployment"]
    assert work["spec"]["template"]["spec"]["nodeSelector"] == {"node.example.com/pool": "default"}


def test_node_selectors_and_requirements() -> None:
    pod = workload("""
        main:
          node_selectors:
            instance_type: m5.large
            zone: [us-west-1a, us-west-1b]
            gpu: [{operator: DoesNotExist}]
    """)["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"node.kubernetes.io/instance-type": "m5.large"}  # PaaSTA's to_node_label
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [
        {"key": "gpu", "operator": "DoesNotExist"},
        {"key": "zone", "operator": "In", "values": ["us-west-1a", "us-west-1b"]}]}]


def test_location_labels_take_the_location_prefix() -> None:
    pod = workload("main: {node_selectors: {habitat: uswest1a, region: [a, b]}}")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"yelp.com/habitat": "uswest1a"}
    (term,) = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term["matchExpressions"] == [{"key": "yelp.com/region", "operator": "In", "values": ["a", "b"]}]
    own = RenderSettings(cluster=CLUSTER, location_label_prefix="example.com")
    assert render("main: {node_selectors: {habitat: x}}", settings=own).objects[1]["spec"]["template"]["spec"][
        "nodeSelector"] == {"example.com/habitat": "x"}


def test_namespace_object_is_labelled_managed() -> None:
    ns = objects("main: {}")["Namespace"]
    assert ns["apiVersion"] == "v1"
    assert ns["metadata"]["labels"]["paasta.yelp.com/managed"] == "true"


def test_objects_come_in_apply_order() -> None:
    kinds = [o["kind"] for o in render("main: {max_instances: 3}").objects]
    assert kinds == ["Namespace", "Deployment", "PodDisruptionBudget", "HorizontalPodAutoscaler"]
