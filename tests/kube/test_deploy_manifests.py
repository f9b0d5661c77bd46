"""The deploy/ Kustomize base on the real control plane: it renders, applies and runs, and its
RBAC is least privilege -- demonstrated, not claimed.

1. `kubectl kustomize deploy/` (the control plane's own kubectl, with kustomize built in) renders
   the base; every object is server-side applied and accepted, and the Deployment's pods are
   created under the `restricted` Pod Security Standard its Namespace enforces.
2. As the base's ServiceAccount -- a TokenRequest token handed to the code the way the kubelet
   hands it to a pod (token file, CA file, KUBERNETES_SERVICE_HOST/PORT), so the cluster is
   built by the production path `in_cluster: true` -> `KubeCluster.in_cluster` -- real reconcile
   cycles create, find nothing to do, roll a crash-looping rollout back, stop and start an
   autoscaled instance, and prune a Deployment and a StatefulSet; a LeaseElector takes, renews,
   is refused, releases and hands over a Lease; and the daemon itself (`Daemon`: what
   `reconciler run` runs) with the ConfigMap's reconciler.yaml takes its lease, reconciles,
   answers /readyz and releases the lease when stopped.
3. Every request of (2) is recorded (method, path, status) and turned into the RBAC attributes
   the API server authorized it as (verb, group, resource, namespace); none was refused; the set
   of (verb, group, resource) used equals the set the ClusterRole and the Role grant, rule for
   rule. The ServiceAccount's effective permissions (SelfSubjectRulesReview) are exactly those
   rules plus what every ServiceAccount of the cluster gets anyway, and SubjectAccessReviews deny
   a list of dangerous requests (with positive controls, so a malformed review cannot pass).
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from kubernetes.config import incluster_config

import reconciler.cluster.kube.backend as kube_module
from reconciler.cluster.kube import config as kube_config
from reconciler.cluster.errors import NotFound
from reconciler.cluster.factory import connect
from reconciler.cluster.kube.backend import KubeCluster
from reconciler.cluster.protocol import Cluster
from reconciler.config import ClusterConfig, Config, RolloutBudget, load_config, parse_config
from reconciler.daemon.app import Daemon, Timing
from reconciler.daemon.leader import LeaseElector
from reconciler.engine.marks import FAILED_CONFIG_SHA, annotation
from reconciler.reconcile.cycle import CycleResult, Mode, policy_for, reconcile
from reconciler.reconcile.revision import Revision
from reconciler.sources.directory import DirectoryTree
from tests.support.controlplane import REPO, ControlPlane, wait_until

pytestmark = pytest.mark.kube

DEPLOY = REPO / "deploy"
IMAGE = "registry.example.com/reconciler:0.1.0"
GOOD, BAD = "a" * 40, "b" * 40
SSRR_PATH = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"
SAR_PATH = "/apis/authorization.k8s.io/v1/subjectaccessreviews"


# ----------------------------------------------------------------------------- the rendered base


@dataclass(frozen=True)
class Base:
    objects: list[dict[str, Any]]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = [o for o in self.objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
        assert len(found) == 1, f"{kind} {name or ''}: {len(found)} in the rendered base"
        return found[0]

    @property
    def namespace(self) -> str:
        return str(self.one("Namespace")["metadata"]["name"])

    @property
    def service_account(self) -> str:
        return str(self.one("ServiceAccount")["metadata"]["name"])

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"

    @property
    def config_text(self) -> str:
        return str(self.one("ConfigMap")["data"]["reconciler.yaml"])

    @property
    def config(self) -> Config:
        return parse_config(self.config_text.encode(), "deploy/reconciler.yaml")

    @property
    def cluster_name(self) -> str:
        (name,) = self.config.clusters
        return name

    @property
    def container(self) -> dict[str, Any]:
        (container,) = self.one("Deployment")["spec"]["template"]["spec"]["containers"]
        return dict(container)


def render_base(cp: ControlPlane) -> Base:
    """`kubectl kustomize deploy/` with the control plane's kubectl (kustomize v5 built in)."""
    text = cp.kubectl("kustomize", str(DEPLOY)).stdout
    return Base([doc for doc in yaml.safe_load_all(text) if doc])


def expand(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """RBAC rules as (verb, apiGroup, resource) triples; our rules use no names or URLs."""
    out = set()
    for rule in rules:
        assert not rule.get("resourceNames") and not rule.get("nonResourceURLs"), rule
        for verb in rule["verbs"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    assert "*" not in (verb, group, resource), rule
                    out.add((verb, group, resource))
    return out


@pytest.fixture(scope="module")
def base(kube_controlplane: ControlPlane) -> Base:
    return render_base(kube_controlplane)


# ----------------------------------------------------------------------------- recording requests


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    query: str
    status: int


@dataclass(frozen=True)
class Access:
    """What the API server's authorizer was asked for one request (subresources: none here)."""

    verb: str
    group: str
    resource: str
    namespace: str | None


def accesses(call: Call) -> list[Access]:
    """The RBAC attributes of a request, as the API server derives them (RequestInfoFactory):
    GET of a name is get, of a collection list (watch with watch=true); POST create; PUT update;
    PATCH patch; DELETE of a name delete, of a collection deletecollection. A PATCH that created
    the object (server-side apply of a new object, answered 201) was *also* authorized as create:
    see test_server_side_apply_of_a_new_object_needs_create_as_well_as_patch."""
    segments = call.path.strip("/").split("/")
    if segments[0] == "api":
        group, rest = "", segments[2:]
    elif segments[0] == "apis":
        group, rest = segments[1], segments[3:]
    else:
        raise AssertionError(f"not a resource request: {call}")
    namespace = None
    if rest[0] == "namespaces" and len(rest) > 2:
        namespace, rest = rest[1], rest[2:]
    assert 1 <= len(rest) <= 2, f"a subresource or unexpected path: {call}"
    resource, name = rest[0], (rest[1] if len(rest) == 2 else None)
    watch = parse_qs(call.query).get("watch") == ["true"]
    verb = {"GET": "get" if name else ("watch" if watch else "list"), "POST": "create", "PUT": "update",
            "PATCH": "patch", "DELETE": "delete" if name else "deletecollection"}[call.method]
    found = [Access(verb, group, resource, namespace)]
    if call.method == "PATCH" and call.status == 201:
        found.append(Access("create", group, resource, namespace))
    return found


class RecordingPool:
    """The urllib3 pool of a KubeCluster, recording every request and its response status."""

    def __init__(self, pool: Any, calls: list[Call]) -> None:
        self._pool, self._calls = pool, calls

    def request(self, method: str, url: str, **kw: Any) -> Any:
        response = self._pool.request(method, url, **kw)
        parts = urlsplit(url)
        self._calls.append(Call(method, parts.path, parts.query, int(response.status)))
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


# ----------------------------------------------------------------------------- install + identity


@pytest.fixture(scope="module")
def installed(kube_controlplane: ControlPlane, base: Base) -> Iterator[Base]:
    """The rendered base, server-side applied as an administrator; removed afterwards."""
    cp = kube_controlplane
    proc = cp.kubectl("apply", "--server-side", "--field-manager=deploy-test", "-f", "-",
                      input=yaml.safe_dump_all(base.objects))
    assert "PodSecurity" not in proc.stderr, proc.stderr  # no "would violate PodSecurity" warning
    try:
        yield base
    finally:
        for kind in ("ClusterRoleBinding", "ClusterRole"):
            cp.kubectl("delete", kind.lower(), base.one(kind)["metadata"]["name"], "--ignore-not-found",
                       check=False)
        cp.kubectl("delete", "namespace", base.namespace, "--wait=false", "--ignore-not-found", check=False)


def request_token(cp: ControlPlane, namespace: str, service_account: str) -> str:
    status, body = cp.api_request(f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token",
                                  method="POST", body={"apiVersion": "authentication.k8s.io/v1",
                                                       "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}})
    assert status == 201, body
    return str(body["status"]["token"])


@dataclass
class AsServiceAccount:
    """The code running as the base's ServiceAccount, every request recorded."""

    cp: ControlPlane
    base: Base
    token: str
    workdir: Path
    calls: list[Call] = field(default_factory=list)
    admin: KubeCluster | None = None
    _results: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def connect(self, name: str) -> Cluster:
        """A cluster as `reconciler run` builds it for `clusters: {name: {in_cluster: true}}`."""
        return connect(ClusterConfig(name, in_cluster=True))

    def run(self, what: str, exercise: Callable[[AsServiceAccount], Any]) -> Any:
        """Run an exercise once per module (several tests share it); its error is raised again."""
        with self._lock:
            if what not in self._results:
                try:
                    self._results[what] = ("ok", exercise(self))
                except Exception as exc:  # noqa: BLE001 - re-raised for every test that asks
                    self._results[what] = ("error", exc)
            state, value = self._results[what]
        if state == "error":
            raise value
        return value


@pytest.fixture(scope="module")
def as_sa(kube_controlplane: ControlPlane, installed: Base,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[AsServiceAccount]:
    cp = kube_controlplane
    workdir = tmp_path_factory.mktemp("deploy-sa")
    token = request_token(cp, installed.namespace, installed.service_account)
    (workdir / "token").write_text(token)
    url = urlsplit(cp.api_url)
    ctx = AsServiceAccount(cp, installed, token, workdir)
    real_in_cluster = kube_config.in_cluster

    def recording_in_cluster(**kw: Any) -> kube_config.Connection:
        connection = real_in_cluster(**kw)
        connection.pool = RecordingPool(connection.pool, ctx.calls)  # type: ignore[assignment]
        return connection

    with pytest.MonkeyPatch.context() as mp:
        # what the kubelet gives every pod of the Deployment: the projected token and CA, and
        # the API server's address in the environment
        mp.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(workdir / "token"))
        mp.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(cp.ca_file))
        mp.setenv("KUBERNETES_SERVICE_HOST", str(url.hostname))
        mp.setenv("KUBERNETES_SERVICE_PORT", str(url.port))
        mp.setattr(kube_module, "in_cluster", recording_in_cluster)
        ctx.admin = KubeCluster.from_kubeconfig("admin", str(cp.kubeconfig))
        try:
            yield ctx
        finally:
            ctx.admin.close()


# ----------------------------------------------------------------------------- exercises


class Tree:
    """One service's soa-configs directory for `cluster`, its own label domain."""

    def __init__(self, root: Path, cluster: str) -> None:
        self.root, self.cluster = root, cluster
        self.service = f"dt{uuid.uuid4().hex[:8]}"
        self.namespace = f"paastasvc-{self.service}"
        self.domain = f"deploytest{uuid.uuid4().hex[:6]}.example.com"

    def write(self, instances: str, groups: dict[str, str], *, pipeline: str = "",
              controls: dict[str, str] | None = None) -> None:
        base = self.root / self.service
        base.mkdir(parents=True, exist_ok=True)
        (base / "service.yaml").write_text("description: deploy manifests test\n")
        (base / f"kubernetes-{self.cluster}.yaml").write_text(instances)
        if pipeline:
            (base / "deploy.yaml").write_text(pipeline)
        deployments = {g: {"docker_image": f"services-{self.service}:paasta-{'crashloop-' if sha == BAD else ''}{sha}",
                           "git_sha": sha, "image_version": None} for g, sha in groups.items()}
        control = {f"{self.service}:{self.cluster}.{i}": {"desired_state": s, "force_bounce": None}
                   for i, s in (controls or {}).items()}
        (base / "deployments.json").write_text(json.dumps({"v2": {"deployments": deployments, "controls": control}}))


@dataclass
class CyclesReport:
    first: CycleResult
    second: CycleResult
    rolled_back: CycleResult
    stopped: CycleResult
    pruned_deployment: CycleResult
    pruned_statefulset: CycleResult


def exercise_cycles(ctx: AsServiceAccount) -> CyclesReport:
    """Real reconcile cycles as the ServiceAccount: create, nothing to do, a crash-looping rollout
    rolled back (reads pods), stop/start of an autoscaled instance (HPA deleted and created
    again), prune of a Deployment (with its IAM role's ServiceAccount) and of a StatefulSet
    (prune: true)."""
    admin = ctx.admin
    assert admin is not None
    tree = Tree(ctx.workdir / "cycles-soa", ctx.base.cluster_name)
    settings = ClusterConfig(tree.cluster, in_cluster=True, prune=True, max_prune_fraction=0.5,
                             rollout=RolloutBudget(max_unavailable_fraction=1.0))
    cluster = ctx.connect(tree.cluster)
    pipeline = "pipeline:\n- step: prod\n  auto_rollback: true\n- step: other\n"
    web = "web: {instances: 2, deploy_group: prod, iam_role: 'arn:aws:iam::123456789012:role/web'}\n"
    auto = "auto: {min_instances: 2, max_instances: 3, deploy_group: other}\n"
    gone = "gone: {instances: 1, deploy_group: other, iam_role: 'arn:aws:iam::123456789012:role/gone'}\n"
    db = ("db:\n  instances: 1\n  deploy_group: other\n  persistent_volumes:\n"
          "    - {container_path: /data, size: 1, mode: RW, storage_class_name: standard}\n")

    def cycle() -> CycleResult:
        revision = Revision.of(DirectoryTree(tree.root), [tree.cluster],
                               lambda c: settings.render_settings(tree.domain), [tree.service])
        assert not [i for i in revision.view().issues if i.is_error], revision.view().issues
        result = reconcile(cluster, policy_for(settings, tree.domain, ctx.base.config.lease_namespace), revision,
                           Mode(apply=True, check_drift=True))
        assert not result.failed, [o.as_dict() for o in result.failed]
        return result

    def until(done: Callable[[CycleResult], bool], what: str, timeout: float = 90) -> CycleResult:
        deadline = time.monotonic() + timeout
        while True:
            result = cycle()
            if done(result):
                return result
            assert time.monotonic() < deadline, (
                f"timed out waiting for {what}; last plan: {[a.as_dict() for a in result.plan.actions]}")
            time.sleep(0.3)

    def actions(result: CycleResult, kind: str | None = None) -> set[tuple[str, str, str | None]]:
        """The writing actions (web waits behind its halted train from the rollback on)."""
        return {(a.action, a.kind, None if a.kind == "Namespace" else a.instance) for a in result.plan.actions
                if a.action not in ("noop", "wait") and (kind is None or a.kind == kind)}

    def gone_from_cluster(kind: str, instance: str) -> bool:
        try:
            admin.get(kind, f"{tree.service}-{instance}", tree.namespace)
        except NotFound:
            return True
        return False

    def image(instance: str) -> str:
        workload = admin.get("Deployment", f"{tree.service}-{instance}", tree.namespace)
        return str(workload["spec"]["template"]["spec"]["containers"][0]["image"])

    try:
        # other tests prune on this control plane too: start from an empty prune ledger, so that
        # only this exercise's deletions count in its window
        try:
            admin.delete("ConfigMap", "reconciler-prune-ledger", ctx.base.config.lease_namespace)
        except NotFound:
            pass
        tree.write(web + auto + gone, {"prod": GOOD, "other": GOOD}, pipeline=pipeline)
        first = cycle()
        assert actions(first) == {("create", "Namespace", None), ("create", "ServiceAccount", "web"),
                                  ("create", "ServiceAccount", "gone"), ("create", "Deployment", "web"),
                                  ("create", "PodDisruptionBudget", "web"), ("create", "Deployment", "auto"),
                                  ("create", "PodDisruptionBudget", "auto"),
                                  ("create", "HorizontalPodAutoscaler", "auto"), ("create", "Deployment", "gone"),
                                  ("create", "PodDisruptionBudget", "gone")}, actions(first)
        assert admin.get("Deployment", f"{tree.service}-auto", tree.namespace)["spec"]["replicas"] == 2
        second = cycle()
        assert second.requests["writes"] == 0 and not actions(second), actions(second)
        until(lambda r: all(h.state == "complete" for h in r.health.values()) and len(r.health) == 3,
              "every rollout complete")
        good_image = image("web")

        # a crash-looping image for deploy group prod: its pods are read (CrashLoopBackOff), the
        # train halts and auto_rollback applies the last healthy rendering again
        tree.write(web + auto + gone, {"prod": BAD, "other": GOOD}, pipeline=pipeline)
        bounced = cycle()
        assert actions(bounced) == {("update", "Deployment", "web")}, actions(bounced)
        rolled_back = until(lambda r: any(a.rollback for a in r.plan.actions), "the rollback of web")
        assert rolled_back.plan.halts and "CrashLoopBackOff" in rolled_back.plan.halts[0].reason
        assert image("web") == good_image
        assert annotation(admin.get("Deployment", f"{tree.service}-web", tree.namespace), tree.domain,
                          FAILED_CONFIG_SHA) is not None

        # stop the autoscaled instance (replicas 0, HPA deleted), then start it again
        tree.write(web + auto + gone, {"prod": BAD, "other": GOOD}, pipeline=pipeline, controls={"auto": "stop"})
        stopped = cycle()
        assert actions(stopped) >= {("scale", "Deployment", "auto"), ("delete", "HorizontalPodAutoscaler", "auto")}
        assert admin.get("Deployment", f"{tree.service}-auto", tree.namespace)["spec"]["replicas"] == 0
        assert gone_from_cluster("HorizontalPodAutoscaler", "auto")
        assert cycle().requests["writes"] == 0
        tree.write(web + auto + gone, {"prod": BAD, "other": GOOD}, pipeline=pipeline, controls={"auto": "start"})
        started = cycle()
        assert actions(started) >= {("scale", "Deployment", "auto"), ("create", "HorizontalPodAutoscaler", "auto")}
        assert admin.get("Deployment", f"{tree.service}-auto", tree.namespace)["spec"]["replicas"] == 2

        # prune: an instance gone from git loses its Deployment and PDB (1 of 3 workloads)
        tree.write(web + auto, {"prod": BAD, "other": GOOD}, pipeline=pipeline)
        pruned_deployment = cycle()
        assert actions(pruned_deployment) == {("delete", "Deployment", "gone"),
                                              ("delete", "PodDisruptionBudget", "gone"),
                                              ("delete", "ServiceAccount", "")}  # shared: no instance
        assert [o["metadata"]["name"] for o in admin.list("ServiceAccount", namespace=tree.namespace,
                                                          selector=f"{tree.domain}/managed=true")] == [
            "paasta--arn-aws-iam-123456789012-role-web"]
        assert gone_from_cluster("Deployment", "gone") and gone_from_cluster("PodDisruptionBudget", "gone")

        # a StatefulSet instance, created and then pruned
        tree.write(web + auto + db, {"prod": BAD, "other": GOOD}, pipeline=pipeline)
        created = cycle()
        assert actions(created) == {("create", "StatefulSet", "db"), ("create", "PodDisruptionBudget", "db")}
        tree.write(web + auto, {"prod": BAD, "other": GOOD}, pipeline=pipeline)
        pruned_statefulset = cycle()
        assert actions(pruned_statefulset) == {("delete", "StatefulSet", "db"),
                                               ("delete", "PodDisruptionBudget", "db")}
        assert gone_from_cluster("StatefulSet", "db")
        return CyclesReport(first, second, rolled_back, stopped, pruned_deployment, pruned_statefulset)
    finally:
        cluster.close()
        try:
            admin.delete("Namespace", tree.namespace)
        except Exception:  # noqa: BLE001 - cleanup must not hide the exercise's own failure
            pass


def exercise_lease(ctx: AsServiceAccount) -> dict[str, Any]:
    """LeaseElector as the ServiceAccount in the base's lease namespace: take (create), renew
    (apply), a second replica refused, release, hand over."""
    admin = ctx.admin
    assert admin is not None
    namespace = ctx.base.config.lease_namespace
    name = f"reconciler-lease{uuid.uuid4().hex[:8]}"
    cluster = ctx.connect("lease-test")
    try:
        a = LeaseElector(lambda: cluster, name, namespace, "replica-a")
        b = LeaseElector(lambda: cluster, name, namespace, "replica-b")
        a.renew()
        assert a.is_leader()
        taken = admin.get("Lease", name, namespace)["spec"]
        assert taken["holderIdentity"] == "replica-a"
        time.sleep(0.05)
        a.renew()
        assert a.is_leader()
        renewed = admin.get("Lease", name, namespace)["spec"]
        assert renewed["renewTime"] > taken["renewTime"]
        b.renew()
        assert not b.is_leader() and a.is_leader()
        a.release()
        assert not a.is_leader()
        assert admin.get("Lease", name, namespace)["spec"]["holderIdentity"] == ""
        b.renew()
        assert b.is_leader()
        handed = admin.get("Lease", name, namespace)["spec"]
        assert handed["holderIdentity"] == "replica-b" and handed["leaseTransitions"] == 1
        return dict(handed)
    finally:
        cluster.close()


def exercise_daemon(ctx: AsServiceAccount) -> dict[str, Any]:
    """The daemon with the ConfigMap's reconciler.yaml, changed only where a test must: the
    source (a directory instead of the example git URL), state_dir, listen, a unique label
    domain. Its cluster stays `in_cluster: true`, its lease namespace the base's."""
    admin = ctx.admin
    assert admin is not None
    doc = yaml.safe_load(ctx.base.config_text)
    cluster = ctx.base.cluster_name
    tree = Tree(ctx.workdir / "daemon-soa", cluster)
    tree.write("main: {instances: 1}\n", {f"{cluster}.main": GOOD})
    doc["soa_configs"] = {"path": str(tree.root), "poll_interval": "1s",
                          "webhook_secret_env": doc["soa_configs"]["webhook_secret_env"]}
    doc.update(label_domain=tree.domain, state_dir=str(ctx.workdir / "daemon-state"), listen="127.0.0.1:0")
    path = ctx.workdir / "daemon-reconciler.yaml"
    path.write_text(yaml.safe_dump(doc))
    config = load_config(path)
    assert config.clusters[cluster].in_cluster and config.lease_namespace == ctx.base.namespace
    identity = f"deploy-test-{uuid.uuid4().hex[:6]}"
    lease = f"reconciler-{cluster}"
    daemon = Daemon(config, timing=Timing(reconcile_interval=1.0, resync_interval=2.0, retry_period=1.0),
                    identity=identity, listen="127.0.0.1:0")
    daemon.start()
    try:
        wait_until(lambda: admin.get("Lease", lease, config.lease_namespace)["spec"]["holderIdentity"] == identity,
                   timeout=30, what="the daemon to take its lease")
        wait_until(lambda: admin.get("Deployment", f"{tree.service}-main", tree.namespace),
                   timeout=30, what="the daemon to create the Deployment")

        def ready() -> bool:
            with urllib.request.urlopen(f"http://{daemon.server.address}/readyz", timeout=5) as response:
                return bool(response.status == 200)

        wait_until(ready, timeout=30, what="/readyz 200")
        # let it run a resync (every 2 s: objects compared field by field) and renew its lease
        renewals = sum(1 for c in ctx.calls if c.method == "PATCH" and f"/leases/{lease}" in c.path)
        time.sleep(3)
        assert sum(1 for c in ctx.calls if c.method == "PATCH" and f"/leases/{lease}" in c.path) > renewals
    finally:
        daemon.stop()
        try:
            admin.delete("Namespace", tree.namespace)
        except Exception:  # noqa: BLE001
            pass
    released = admin.get("Lease", lease, config.lease_namespace)["spec"]
    assert released["holderIdentity"] == "", released  # released on stop, no need to wait for expiry
    admin.delete("Lease", lease, config.lease_namespace)
    return dict(released)


EXERCISES: dict[str, Callable[[AsServiceAccount], Any]] = {
    "cycles": exercise_cycles, "lease": exercise_lease, "daemon": exercise_daemon}


# ----------------------------------------------------------------------------- 1. the manifests


def test_the_base_renders_what_the_daemon_needs(base: Base) -> None:
    assert sorted(o["kind"] for o in base.objects) == sorted([
        "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
        "ConfigMap", "Deployment", "Service", "PodDisruptionBudget"])
    for obj in base.objects:
        if obj["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert obj["metadata"]["namespace"] == base.namespace, obj["metadata"]
    assert base.one("Namespace")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"

    config = base.config  # valid for `reconciler validate --config`
    assert config.lease_namespace == base.namespace == base.one("Role")["metadata"]["namespace"]
    assert all(c.in_cluster for c in config.clusters.values())
    assert config.listen == "0.0.0.0:8080" and config.auth_token_env == "RECONCILER_API_TOKEN"
    assert not config.allow_unauthenticated and config.max_body_bytes == 1024 * 1024
    assert config.soa_configs is not None and config.soa_configs.webhook_secret_env == "RECONCILER_WEBHOOK_SECRET"

    deployment = base.one("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    c = base.container
    assert deployment["spec"]["replicas"] == 2
    assert c["image"] == IMAGE
    assert c["command"] + c["args"] == ["reconciler", "run", "--config", "/etc/reconciler/reconciler.yaml",
                                        "--identity", "$(POD_NAME)"]
    assert pod["serviceAccountName"] == base.service_account and pod["automountServiceAccountToken"] is True
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["securityContext"]["runAsUser"] != 0
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert {"cpu", "memory"} <= set(c["resources"]["requests"]) and {"cpu", "memory"} <= set(c["resources"]["limits"])
    (port,) = c["ports"]
    assert port == {"name": "http", "containerPort": 8080, "protocol": "TCP"}
    (service_port,) = base.one("Service")["spec"]["ports"]
    assert service_port["port"] == 8080 and service_port["targetPort"] == "http"
    assert base.one("Service")["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert base.one("PodDisruptionBudget")["spec"]["selector"] == deployment["spec"]["selector"]

    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    assert "emptyDir" in volumes[mounts[config.state_dir]] and "emptyDir" in volumes[mounts["/tmp"]]
    assert volumes[mounts["/etc/reconciler"]]["configMap"]["name"] == base.one("ConfigMap")["metadata"]["name"]

    env = {e["name"]: e for e in c["env"]}
    secret_refs = {name: e["valueFrom"]["secretKeyRef"] for name, e in env.items()
                   if "secretKeyRef" in e.get("valueFrom", {})}
    assert set(secret_refs) == {"RECONCILER_WEBHOOK_SECRET", "RECONCILER_GIT_USERNAME", "RECONCILER_GIT_PASSWORD",
                                "RECONCILER_API_TOKEN"}
    assert secret_refs["RECONCILER_API_TOKEN"]["name"] == "reconciler-api"
    assert secret_refs["RECONCILER_WEBHOOK_SECRET"]["name"] == "reconciler-webhook"
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}

    subject = {"kind": "ServiceAccount", "name": base.service_account, "namespace": base.namespace}
    for binding in ("ClusterRoleBinding", "RoleBinding"):
        assert base.one(binding)["subjects"] == [subject]
    assert base.one("ClusterRoleBinding")["roleRef"]["name"] == base.one("ClusterRole")["metadata"]["name"]
    assert base.one("RoleBinding")["roleRef"]["name"] == base.one("Role")["metadata"]["name"]


def test_the_git_credential_helper_answers_from_the_environment(base: Base, tmp_path: Path) -> None:
    """The helper in the Deployment's env hands git the Secret's values, and nothing without them."""
    import os
    import subprocess

    env = {e["name"]: e["value"] for e in base.container["env"] if "value" in e}
    query = "protocol=https\nhost=git.example.com\n\n"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    common = {**clean, **{k: v for k, v in env.items() if k.startswith("GIT_")}, "HOME": str(tmp_path),
              "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"}  # only the Deployment's helper
    filled = subprocess.run(["git", "credential", "fill"], input=query, capture_output=True, text=True,
                            env={**common, "RECONCILER_GIT_USERNAME": "bot", "RECONCILER_GIT_PASSWORD": "t0k$n x"},
                            check=True)
    assert "username=bot\n" in filled.stdout and "password=t0k$n x\n" in filled.stdout
    nothing = subprocess.run(["git", "credential", "fill"], input=query, capture_output=True, text=True,
                             env=common, check=False)
    assert nothing.returncode != 0 and "password=" not in nothing.stdout  # no prompt, no empty password


OVERLAY = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [{base}]
namespace: gitops             # moves every object (and renames the Namespace object)
transformers:                 # ... and this makes the bindings' subjects follow
  - |-
    apiVersion: builtin
    kind: NamespaceTransformer
    metadata: {{name: namespace, namespace: gitops}}
    setRoleBindingSubjects: allServiceAccounts
images:
  - name: registry.example.com/reconciler
    newName: registry.internal/platform/reconciler
    digest: sha256:{digest}
configMapGenerator:
  - name: reconciler-config
    behavior: replace
    files: [reconciler.yaml]
"""


def test_the_overlay_in_the_readme_moves_everything_together(kube_controlplane: ControlPlane, base: Base,
                                                               tmp_path: Path) -> None:
    """deploy/README.md's overlay recipe: another namespace (bindings' subjects and the Role
    follow), another image, another reconciler.yaml."""
    import os

    overlay = tmp_path / "overlay"
    overlay.mkdir()
    digest = "0" * 64
    (overlay / "kustomization.yaml").write_text(OVERLAY.format(base=os.path.relpath(DEPLOY, overlay), digest=digest))
    (overlay / "reconciler.yaml").write_text(base.config_text.replace("lease_namespace: reconciler",
                                                                      "lease_namespace: gitops"))
    text = kube_controlplane.kubectl("kustomize", str(overlay)).stdout
    moved = Base([doc for doc in yaml.safe_load_all(text) if doc])
    assert moved.namespace == "gitops" and moved.config.lease_namespace == "gitops"
    assert all(o["metadata"].get("namespace") in (None, "gitops") for o in moved.objects)
    for binding in ("ClusterRoleBinding", "RoleBinding"):
        assert moved.one(binding)["subjects"] == [{"kind": "ServiceAccount", "name": "reconciler",
                                                   "namespace": "gitops"}]
    assert moved.container["image"] == f"registry.internal/platform/reconciler@sha256:{digest}"
    volumes = moved.one("Deployment")["spec"]["template"]["spec"]["volumes"]
    assert {"name": "config", "configMap": {"name": moved.one("ConfigMap")["metadata"]["name"]}} in volumes


# ----------------------------------------------------------------------------- 1. applied


def test_every_object_is_accepted_and_the_pods_pass_pod_security(kube_controlplane: ControlPlane,
                                                                 installed: Base) -> None:
    cp, base = kube_controlplane, installed
    for obj in base.objects:
        kind, name = obj["kind"].lower(), obj["metadata"]["name"]
        args = ["get", kind, name] + (["-n", base.namespace] if "namespace" in obj["metadata"] else [])
        live = cp.kubectl_json(*args)
        assert live["metadata"]["uid"]
    deployment = cp.kubectl_json("-n", base.namespace, "get", "deployment", "reconciler")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE

    # The ReplicaSet's pods are created under `restricted` (kwok runs them as fake pods)
    def pods() -> list[dict[str, Any]] | None:
        items = cp.kubectl_json("-n", base.namespace, "get", "pods", "-l",
                                "app.kubernetes.io/name=reconciler")["items"]
        return items if len(items) == 2 else None

    try:
        found = wait_until(pods, timeout=60, what="the Deployment's 2 pods")
    except TimeoutError:
        events = cp.kubectl("-n", base.namespace, "get", "events", "-o", "wide", check=False).stdout
        raise AssertionError(f"the Deployment's pods were not created:\n{events}") from None
    assert all(p["spec"]["serviceAccountName"] == base.service_account for p in found)


# ----------------------------------------------------------------------------- 2. enough


def test_the_service_account_runs_real_reconcile_cycles(as_sa: AsServiceAccount) -> None:
    report = as_sa.run("cycles", exercise_cycles)
    assert report.first.requests["writes"] >= 8 and report.second.requests["writes"] == 0


def test_the_service_account_takes_renews_and_releases_its_lease(as_sa: AsServiceAccount) -> None:
    assert as_sa.run("lease", exercise_lease)["holderIdentity"] == "replica-b"


def test_the_daemon_runs_with_the_shipped_config_as_the_service_account(as_sa: AsServiceAccount) -> None:
    assert as_sa.run("daemon", exercise_daemon)["holderIdentity"] == ""


def test_server_side_apply_of_a_new_object_needs_create_as_well_as_patch(kube_controlplane: ControlPlane) -> None:
    """Why the ClusterRole grants `create` although every write is a PATCH: the API server
    authorizes a server-side apply that creates the object as `create` too (and one that
    updates as `patch` alone)."""
    cp = kube_controlplane
    namespace = cp.create_namespace("ssa-verbs")
    try:
        cp.kubectl("-n", namespace, "create", "serviceaccount", "probe")
        cp.kubectl("-n", namespace, "create", "configmap", "existing", "--from-literal=a=b")
        token = request_token(cp, namespace, "probe")

        def grant(*verbs: str) -> None:
            cp.kubectl("-n", namespace, "delete", "role,rolebinding", "probe", "--ignore-not-found")
            cp.kubectl("-n", namespace, "create", "role", "probe", f"--verb={','.join(verbs)}",
                       "--resource=configmaps")
            cp.kubectl("-n", namespace, "create", "rolebinding", "probe", "--role=probe",
                       f"--serviceaccount={namespace}:probe")

        def send(method: str, path: str, name: str, content_type: str) -> tuple[int, str]:
            """One request as the probe, bearer token only (a client certificate, which the
            admin kubeconfig has, would be authenticated first)."""
            body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": name, "namespace": namespace}, "data": {"a": "c"}})
            request = urllib.request.Request(
                f"{cp.api_url}/api/v1/namespaces/{namespace}/configmaps{path}", data=body.encode(), method=method,
                headers={"Authorization": f"Bearer {token}", "Content-Type": content_type})
            try:
                with urllib.request.urlopen(request, context=ssl.create_default_context(cafile=str(cp.ca_file)),
                                            timeout=10) as response:
                    return int(response.status), ""
            except urllib.error.HTTPError as err:
                return int(err.code), str(json.loads(err.read()).get("message"))

        def apply(name: str) -> tuple[int, str]:
            return send("PATCH", f"/{name}?fieldManager=probe&force=true", name, "application/apply-patch+yaml")

        def create(name: str) -> tuple[int, str]:
            return send("POST", "", name, "application/json")

        # each grant is first seen working (a positive control: RBAC follows a new binding
        # within moments), then the server-side apply of a new object is tried
        grant("patch")
        wait_until(lambda: apply("existing")[0] == 200, timeout=10, what="the patch-only grant")
        status, message = apply("new-with-patch-only")
        assert status == 403 and "cannot create resource" in message, message
        grant("create")
        wait_until(lambda: create("created-with-create-only")[0] == 201, timeout=10, what="the create-only grant")
        status, message = apply("new-with-create-only")
        assert status == 403 and "cannot patch resource" in message, message
        grant("patch", "create")
        wait_until(lambda: apply("new-with-both")[0] == 201, timeout=10, what="the patch+create grant")
    finally:
        cp.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


# ----------------------------------------------------------------------------- 3. nothing more


def test_the_granted_verbs_are_exactly_the_verbs_the_code_used(as_sa: AsServiceAccount) -> None:
    for what, exercise in EXERCISES.items():
        as_sa.run(what, exercise)
    base = as_sa.base
    calls = list(as_sa.calls)
    assert calls, "no request was recorded"
    refused = [c for c in calls if c.status in (401, 403)]
    assert not refused, refused
    used = [a for c in calls for a in accesses(c)]

    lease_ns = base.config.lease_namespace
    own = ("leases", "configmaps")  # the Leases and the prune ledger, in the lease namespace only
    lease_used = {(a.verb, a.group, a.resource) for a in used if a.resource in own}
    assert {a.namespace for a in used if a.resource in own} == {lease_ns}
    cluster_used = {(a.verb, a.group, a.resource) for a in used if a.resource not in own}

    cluster_granted = expand(base.one("ClusterRole")["rules"])
    lease_granted = expand(base.one("Role")["rules"])
    assert cluster_used == cluster_granted, (
        f"granted but not used: {sorted(cluster_granted - cluster_used)}; "
        f"used but not granted: {sorted(cluster_used - cluster_granted)}")
    assert lease_used == lease_granted, (sorted(lease_granted - lease_used), sorted(lease_used - lease_granted))

    # Cluster-wide, not per namespace: lists span every namespace (one LIST per kind), and the
    # other requests go to namespaces created from git as services appear.
    assert {a.resource for a in used if a.verb == "list" and a.namespace is None} == {
        "namespaces", "serviceaccounts", "deployments", "statefulsets", "poddisruptionbudgets",
        "horizontalpodautoscalers"}


def _resource_rules(status: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    out = set()
    for rule in status.get("resourceRules") or ():
        for verb in rule.get("verbs") or ():
            for group in rule.get("apiGroups") or ():
                for resource in rule.get("resources") or ():
                    for name in rule.get("resourceNames") or ("",):
                        out.add((verb, group, resource, name))
    return out


def _non_resource_rules(status: dict[str, Any]) -> set[tuple[str, str]]:
    return {(verb, url) for rule in status.get("nonResourceRules") or ()
            for verb in rule.get("verbs") or () for url in rule.get("nonResourceURLs") or ()}


def test_the_effective_permissions_are_the_manifests_and_nothing_else(kube_controlplane: ControlPlane,
                                                                      as_sa: AsServiceAccount) -> None:
    """SelfSubjectRulesReview, as the ServiceAccount and as one of the same cluster with no binding
    at all (what every ServiceAccount gets: system:basic-user, discovery, ...): the difference is
    exactly the ClusterRole's rules in every namespace, plus the Role's in the lease namespace."""
    cp, base = kube_controlplane, as_sa.base
    scratch = cp.create_namespace("rbac-baseline")
    try:
        cp.kubectl("-n", scratch, "create", "serviceaccount", "nobody")
        nobody = request_token(cp, scratch, "nobody")

        def review(token: str, namespace: str) -> dict[str, Any]:
            status, body = cp.api_request(SSRR_PATH, method="POST", token=token, body={
                "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
                "spec": {"namespace": namespace}})
            assert status == 201 and not body["status"].get("incomplete"), body
            return dict(body["status"])

        cluster_rules = {(v, g, r, "") for v, g, r in expand(base.one("ClusterRole")["rules"])}
        lease_rules = {(v, g, r, "") for v, g, r in expand(base.one("Role")["rules"])}
        for namespace, expected in ((base.namespace, cluster_rules | lease_rules), ("kube-system", cluster_rules),
                                    ("default", cluster_rules), (scratch, cluster_rules)):
            ours, baseline = review(as_sa.token, namespace), review(nobody, namespace)
            extra = _resource_rules(ours) - _resource_rules(baseline)
            assert extra == expected, (namespace, sorted(extra ^ expected))
            assert _non_resource_rules(ours) == _non_resource_rules(baseline), namespace
    finally:
        cp.kubectl("delete", "namespace", scratch, "--wait=false", check=False)


def _allowed(cp: ControlPlane, user: str, attributes: dict[str, Any]) -> bool:
    namespace = user.split(":")[2]
    status, body = cp.api_request(SAR_PATH, method="POST", body={
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": user, "groups": ["system:serviceaccounts", f"system:serviceaccounts:{namespace}",
                                          "system:authenticated"],
                 "resourceAttributes": attributes}})
    assert status == 201, body
    return bool(body["status"].get("allowed"))


#: What the daemon must never be able to do. (namespace None: cluster-wide / every namespace)
DENIED: list[dict[str, Any]] = [
    {"verb": "get", "resource": "secrets"},
    {"verb": "list", "resource": "secrets"},
    {"verb": "get", "resource": "secrets", "namespace": "__own__"},
    {"verb": "list", "resource": "secrets", "namespace": "__own__"},
    {"verb": "watch", "resource": "secrets", "namespace": "kube-system"},
    {"verb": "get", "resource": "configmaps", "namespace": "kube-system"},
    {"verb": "list", "resource": "configmaps"},
    {"verb": "create", "resource": "pods", "namespace": "default"},
    {"verb": "delete", "resource": "pods", "namespace": "default"},
    {"verb": "deletecollection", "resource": "pods", "namespace": "default"},
    {"verb": "get", "resource": "pods", "namespace": "default"},
    {"verb": "watch", "resource": "pods"},
    {"verb": "create", "resource": "pods", "subresource": "exec", "namespace": "default"},
    {"verb": "get", "resource": "pods", "subresource": "log", "namespace": "default"},
    {"verb": "create", "resource": "pods", "subresource": "eviction", "namespace": "default"},
    {"verb": "deletecollection", "group": "apps", "resource": "deployments", "namespace": "default"},
    {"verb": "update", "group": "apps", "resource": "deployments", "namespace": "default"},
    {"verb": "watch", "group": "apps", "resource": "deployments"},
    {"verb": "patch", "group": "apps", "resource": "deployments", "subresource": "scale", "namespace": "default"},
    {"verb": "patch", "group": "apps", "resource": "deployments", "subresource": "status", "namespace": "default"},
    {"verb": "create", "group": "apps", "resource": "daemonsets", "namespace": "default"},
    {"verb": "create", "group": "batch", "resource": "jobs", "namespace": "default"},
    {"verb": "delete", "resource": "namespaces", "name": "kube-system"},
    {"verb": "update", "resource": "namespaces", "name": "kube-system"},
    {"verb": "get", "resource": "nodes"},
    {"verb": "list", "resource": "nodes"},
    {"verb": "patch", "resource": "nodes"},
    {"verb": "create", "resource": "serviceaccounts", "subresource": "token", "namespace": "__own__"},
    {"verb": "impersonate", "resource": "serviceaccounts", "namespace": "kube-system"},
    {"verb": "impersonate", "resource": "users"},
    {"verb": "impersonate", "resource": "groups"},
    {"verb": "create", "group": "rbac.authorization.k8s.io", "resource": "clusterroles"},
    {"verb": "escalate", "group": "rbac.authorization.k8s.io", "resource": "clusterroles"},
    {"verb": "bind", "group": "rbac.authorization.k8s.io", "resource": "clusterroles"},
    {"verb": "create", "group": "rbac.authorization.k8s.io", "resource": "clusterrolebindings"},
    {"verb": "create", "group": "rbac.authorization.k8s.io", "resource": "rolebindings", "namespace": "__own__"},
    {"verb": "escalate", "group": "rbac.authorization.k8s.io", "resource": "roles", "namespace": "__own__"},
    {"verb": "bind", "group": "rbac.authorization.k8s.io", "resource": "roles", "namespace": "__own__"},
    {"verb": "patch", "group": "rbac.authorization.k8s.io", "resource": "roles", "namespace": "__own__"},
    {"verb": "get", "group": "coordination.k8s.io", "resource": "leases", "namespace": "kube-system"},
    {"verb": "patch", "group": "coordination.k8s.io", "resource": "leases", "namespace": "kube-node-lease"},
    {"verb": "create", "group": "coordination.k8s.io", "resource": "leases", "namespace": "default"},
    {"verb": "delete", "group": "coordination.k8s.io", "resource": "leases", "namespace": "__own__"},
    {"verb": "list", "group": "coordination.k8s.io", "resource": "leases", "namespace": "__own__"},
    {"verb": "update", "group": "coordination.k8s.io", "resource": "leases", "namespace": "__own__"},
    {"verb": "create", "group": "apiextensions.k8s.io", "resource": "customresourcedefinitions"},
    {"verb": "create", "group": "admissionregistration.k8s.io", "resource": "mutatingwebhookconfigurations"},
    {"verb": "create", "group": "certificates.k8s.io", "resource": "certificatesigningrequests"},
    {"verb": "create", "resource": "persistentvolumeclaims", "namespace": "default"},
    {"verb": "create", "resource": "services", "namespace": "default"},
    {"verb": "*", "group": "*", "resource": "*"},
    {"verb": "*", "group": "apps", "resource": "deployments", "namespace": "default"},
]

#: Positive controls: the same reviews must say yes to what the manifests grant.
ALLOWED: list[dict[str, Any]] = [
    {"verb": "list", "group": "apps", "resource": "deployments"},
    {"verb": "patch", "group": "apps", "resource": "statefulsets", "namespace": "default"},
    {"verb": "create", "resource": "namespaces"},
    {"verb": "delete", "group": "autoscaling", "resource": "horizontalpodautoscalers", "namespace": "default"},
    {"verb": "list", "resource": "pods", "namespace": "default"},
    {"verb": "create", "group": "coordination.k8s.io", "resource": "leases", "namespace": "__own__"},
    {"verb": "patch", "group": "coordination.k8s.io", "resource": "leases", "namespace": "__own__"},
    {"verb": "get", "resource": "configmaps", "namespace": "__own__"},  # the prune ledger
    {"verb": "patch", "resource": "configmaps", "namespace": "__own__"},
]


def test_dangerous_requests_are_denied(kube_controlplane: ControlPlane, installed: Base) -> None:
    def attributes(spec: dict[str, Any]) -> dict[str, Any]:
        out = {"group": "", **spec}
        if out.get("namespace") == "__own__":
            out["namespace"] = installed.namespace
        return out

    wrongly_allowed = [a for a in map(attributes, DENIED) if _allowed(kube_controlplane, installed.user, a)]
    assert not wrongly_allowed, wrongly_allowed
    wrongly_denied = [a for a in map(attributes, ALLOWED) if not _allowed(kube_controlplane, installed.user, a)]
    assert not wrongly_denied, wrongly_denied
