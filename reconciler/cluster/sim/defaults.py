"""What the API server does to an object between decoding and storing it (pure): drops the empty
values Go's `omitempty` drops, writes quantities canonically, and fills the defaults of the kinds
the reconciler uses (SetDefaults_* of k8s.io/kubernetes/pkg/apis/*/v1)."""

from __future__ import annotations

from typing import Any

from reconciler.cluster.sim import quantity, schema
from reconciler.cluster.sim.schema import Node

Obj = dict[str, Any]

#: Scalar fields that are pointers in the Go types: their zero value is kept, not dropped.
POINTERS = frozenset("""
DeploymentSpec.replicas DeploymentSpec.revisionHistoryLimit DeploymentSpec.progressDeadlineSeconds
RollingUpdateDeployment.maxUnavailable RollingUpdateDeployment.maxSurge
StatefulSetSpec.replicas StatefulSetSpec.revisionHistoryLimit
RollingUpdateStatefulSetStrategy.partition RollingUpdateStatefulSetStrategy.maxUnavailable
ReplicaSetSpec.replicas
PodSpec.terminationGracePeriodSeconds PodSpec.activeDeadlineSeconds PodSpec.automountServiceAccountToken
PodSpec.shareProcessNamespace PodSpec.priority PodSpec.enableServiceLinks PodSpec.preemptionPolicy
PodSpec.setHostnameAsFQDN PodSpec.hostUsers PodSpec.runtimeClassName PodSpec.hostnameOverride
Container.restartPolicy Probe.terminationGracePeriodSeconds GRPCAction.service
SecurityContext.privileged SecurityContext.runAsUser SecurityContext.runAsGroup SecurityContext.runAsNonRoot
SecurityContext.readOnlyRootFilesystem SecurityContext.allowPrivilegeEscalation SecurityContext.procMount
PodSecurityContext.runAsUser PodSecurityContext.runAsGroup PodSecurityContext.runAsNonRoot
PodSecurityContext.fsGroup PodSecurityContext.fsGroupChangePolicy PodSecurityContext.supplementalGroupsPolicy
PodSecurityContext.seLinuxChangePolicy
WindowsSecurityContextOptions.gmsaCredentialSpecName WindowsSecurityContextOptions.gmsaCredentialSpec
WindowsSecurityContextOptions.runAsUserName WindowsSecurityContextOptions.hostProcess
SeccompProfile.localhostProfile AppArmorProfile.localhostProfile
VolumeMount.mountPropagation VolumeMount.recursiveReadOnly
ConfigMapVolumeSource.defaultMode ConfigMapVolumeSource.optional SecretVolumeSource.defaultMode
SecretVolumeSource.optional ProjectedVolumeSource.defaultMode DownwardAPIVolumeSource.defaultMode
KeyToPath.mode DownwardAPIVolumeFile.mode ServiceAccountTokenProjection.expirationSeconds
ConfigMapProjection.optional SecretProjection.optional ConfigMapKeySelector.optional SecretKeySelector.optional
ConfigMapEnvSource.optional SecretEnvSource.optional HostPathVolumeSource.type CSIVolumeSource.readOnly
CSIVolumeSource.fsType PersistentVolumeClaimSpec.storageClassName PersistentVolumeClaimSpec.volumeMode
PersistentVolumeClaimSpec.volumeAttributesClassName
Toleration.tolerationSeconds TopologySpreadConstraint.minDomains TopologySpreadConstraint.nodeAffinityPolicy
TopologySpreadConstraint.nodeTaintsPolicy
PodDisruptionBudgetSpec.minAvailable PodDisruptionBudgetSpec.maxUnavailable
PodDisruptionBudgetSpec.unhealthyPodEvictionPolicy
HorizontalPodAutoscalerSpec.minReplicas HPAScalingRules.stabilizationWindowSeconds HPAScalingRules.selectPolicy
HPAScalingRules.tolerance MetricTarget.value MetricTarget.averageValue MetricTarget.averageUtilization
ObjectMeta.deletionGracePeriodSeconds PodDNSConfigOption.value
LeaseSpec.holderIdentity LeaseSpec.leaseDurationSeconds LeaseSpec.acquireTime LeaseSpec.renewTime
LeaseSpec.leaseTransitions LeaseSpec.strategy LeaseSpec.preferredHolder
DeploymentStatus.terminatingReplicas DeploymentStatus.collisionCount ReplicaSetStatus.terminatingReplicas
StatefulSetStatus.collisionCount HorizontalPodAutoscalerStatus.observedGeneration
HorizontalPodAutoscalerStatus.lastScaleTime
""".split())


def normalize(value: Any, node: Node | None) -> Any:
    """The value after a JSON -> Go -> JSON round trip (omitempty, canonical quantities)."""
    if node is None:
        return value
    if node.kind == "quantity":
        return quantity.canonical(str(value)) if isinstance(value, (str, int, float)) else value
    if node.kind == "struct" and isinstance(value, dict):  # atomic structs are typed all the same
        return _normalize_struct(value, node)
    if node.kind == "map" and isinstance(value, dict):
        return {k: normalize(v, node.elem) for k, v in value.items() if v is not None}
    if node.kind == "list" and isinstance(value, list):
        return [normalize(item, node.elem) for item in value]
    return value


def _normalize_struct(value: Obj, node: Node) -> Obj:
    declared = schema.fields(node.type_name)
    out: Obj = {}
    for name, sub in value.items():
        child = declared.get(name)
        if sub is None:
            continue
        if child is None:
            out[name] = sub
            continue
        if not child.has_default and f"{node.type_name}.{name}" not in POINTERS and _empty(sub, child):
            continue
        out[name] = normalize(sub, child)
    for name, child in declared.items():
        if name not in out and child.kind == "struct" and child.default == {}:
            out[name] = {}
    return out


def _empty(value: Any, node: Node) -> bool:
    if node.kind == "struct":
        return False  # Go never omits a struct; pointers to structs stay when set
    if isinstance(value, (list, dict)):
        return not value
    return value is False or value == "" or (type(value) in (int, float) and value == 0)


# --- defaults per kind ---------------------------------------------------------------------

def image_pull_policy(image: str) -> str:
    """Always for :latest or no tag (and no digest), else IfNotPresent."""
    name = image.rsplit("/", 1)[-1]
    if "@" in name:
        name, _, _ = name.partition("@")
        tag = name.partition(":")[2]
        return "Always" if tag == "latest" else "IfNotPresent"
    tag = name.partition(":")[2]
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _probe(probe: Obj) -> None:
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    _handler(probe)


def _handler(handler: Obj) -> None:
    http = handler.get("httpGet")
    if isinstance(http, dict):
        http.setdefault("path", "/")
        http.setdefault("scheme", "HTTP")


def _container(container: Obj) -> None:
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    if "imagePullPolicy" not in container and isinstance(container.get("image"), str):
        container["imagePullPolicy"] = image_pull_policy(container["image"])
    for port in container.get("ports") or ():
        port.setdefault("protocol", "TCP")
    for name in ("livenessProbe", "readinessProbe", "startupProbe"):
        if isinstance(container.get(name), dict):
            _probe(container[name])
    for hook in ((container.get("lifecycle") or {}).values()):
        if isinstance(hook, dict):
            _handler(hook)
    for env in container.get("env") or ():
        field_ref = (env.get("valueFrom") or {}).get("fieldRef")
        if isinstance(field_ref, dict):
            field_ref.setdefault("apiVersion", "v1")


def _volume(volume: Obj) -> None:
    sources = [k for k in volume if k != "name"]
    if not sources:
        volume["emptyDir"] = {}
    for source in ("secret", "configMap", "projected", "downwardAPI"):
        if isinstance(volume.get(source), dict):
            volume[source].setdefault("defaultMode", 420)


def pod_spec(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if isinstance(container, dict):
            _container(container)
    for volume in spec.get("volumes") or ():
        if isinstance(volume, dict):
            _volume(volume)


def _template(spec: Obj) -> None:
    template = spec.setdefault("template", {})
    template.setdefault("metadata", {})
    pod_spec(template.setdefault("spec", {}))


def _deployment(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _template(spec)


def _statefulset(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = spec.setdefault("updateStrategy", {})
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
        strategy.setdefault("rollingUpdate", {})
    if strategy["type"] == "RollingUpdate" and isinstance(strategy.get("rollingUpdate"), dict):
        strategy["rollingUpdate"].setdefault("partition", 0)
        strategy["rollingUpdate"].setdefault("maxUnavailable", 1)
    retention = spec.setdefault("persistentVolumeClaimRetentionPolicy", {})
    retention.setdefault("whenDeleted", "Retain")
    retention.setdefault("whenScaled", "Retain")
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    _template(spec)
    for claim in spec.get("volumeClaimTemplates") or ():
        claim.setdefault("apiVersion", "v1")
        claim.setdefault("kind", "PersistentVolumeClaim")
        claim.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
        claim.setdefault("status", {}).setdefault("phase", "Pending")


def _replicaset(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    _template(spec)


_SCALE_UP = {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
             "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                          {"type": "Percent", "value": 100, "periodSeconds": 15}]}
_SCALE_DOWN = {"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}


def _rules(given: Obj | None, default: Obj) -> Obj:
    out = {k: (list(v) if isinstance(v, list) else v) for k, v in default.items()}
    for key in ("selectPolicy", "stabilizationWindowSeconds", "policies", "tolerance"):
        if given and given.get(key) is not None:
            out[key] = given[key]
    return out


def _hpa(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": 80}}}]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        behavior["scaleUp"] = _rules(behavior.get("scaleUp"), _SCALE_UP)
        behavior["scaleDown"] = _rules(behavior.get("scaleDown"), _SCALE_DOWN)


def _namespace(obj: Obj) -> None:
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
    obj.setdefault("status", {}).setdefault("phase", "Active")


_DEFAULTS = {"Deployment": _deployment, "StatefulSet": _statefulset, "ReplicaSet": _replicaset,
             "HorizontalPodAutoscaler": _hpa, "Namespace": _namespace}


def stored_form(obj: Obj) -> Obj:
    """`obj` as the API server would store it: normalized, defaulted, normalized again."""
    kind = obj.get("kind", "")
    node = schema.root(kind)
    out: Obj = normalize(obj, node)
    default = _DEFAULTS.get(kind)
    if default is not None:
        default(out)
        out = normalize(out, node)
    return out
