"""Pods of the simulated cluster (pure): made from a template, scheduled at once, Ready
`pod_ready_seconds` after creation; an image containing "crashloop" never gets Ready (Running,
CrashLoopBackOff, a restartCount that grows with the kubelet's back-off). Shapes follow what kwok
and the kubelet report on the real control plane."""

from __future__ import annotations

import hashlib
import json
import marshal
import uuid
from dataclasses import dataclass
from typing import Any

from reconciler.cluster.sim import schema
from reconciler.cluster.sim.clock import rfc3339
from reconciler.cluster.sim.defaults import pod_spec
from reconciler.cluster.sim.fieldsets import config_set
from reconciler.cluster.sim.managed import CONTROLLER, Entry, encode
from reconciler.cluster.sim.merge import clone
from reconciler.cluster.sim.store import Row

Obj = dict[str, Any]
NODE_NAME = "sim-node-0"
HOST_IP = "10.0.0.10"
BACKOFF_START, BACKOFF_MAX = 10.0, 300.0
_TOLERATIONS = [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                 "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                 "tolerationSeconds": 300}]
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


@dataclass(frozen=True)
class Settings:
    pod_ready_seconds: float = 1.0
    #: How long after a client's write the controllers act on it (kube-controller-manager takes
    #: some tens of milliseconds: right after an apply, status has not moved yet).
    controller_delay: float = 0.1


def suffix(seed: str, length: int = 5) -> str:
    """Random-looking name suffixes (rand.String's alphabet), deterministic in `seed`."""
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:length])


def owner_reference(owner: Obj) -> Obj:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def crashes(spec: Obj) -> bool:
    return any("crashloop" in str(c.get("image", "")) for c in spec.get("containers") or ())


def new_pod(template: Obj, name: str, owner: Obj, now: float, labels: dict[str, str],
            extra_spec: Obj | None = None, generate_name: str | None = None) -> Row:
    meta_t = template.get("metadata") or {}
    spec = clone(template.get("spec") or {})
    pod_spec(spec)
    spec.update(extra_spec or {})
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec["nodeName"] = NODE_NAME
    spec.setdefault("tolerations", clone(_TOLERATIONS))
    spec.setdefault("priority", 0)
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    for container in spec.get("containers") or ():
        resources = container.setdefault("resources", {})
        if resources.get("limits"):
            resources["requests"] = {**resources["limits"], **(resources.get("requests") or {})}
    if spec.get("automountServiceAccountToken", True):
        _mount_token(spec, f"kube-api-access-{suffix(name + '/token')}")
    meta: Obj = {"name": name}
    if generate_name:
        meta["generateName"] = generate_name
    meta.update({"namespace": owner["metadata"]["namespace"], "uid": str(uuid.uuid4()), "generation": 1,
                 "creationTimestamp": rfc3339(now), "labels": labels})
    if meta_t.get("annotations"):
        meta["annotations"] = dict(meta_t["annotations"])
    meta["ownerReferences"] = [owner_reference(owner)]
    pod: Obj = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": {}}
    meta["managedFields"] = [{**_creation_entry(meta, template), "time": rfc3339(now)}]
    return Row(pod, {"created": now, "crash": crashes(spec)})


_ENTRIES: dict[bytes, Obj] = {}
_OWNER = 'k:{"uid":"owner"}'  # stands for the owner's uid in cached entries


def _creation_entry(meta: Obj, template: Obj) -> Obj:
    """The controller manager's managedFields entry for creating this pod (the same for every pod
    of one owner and template, hence cached)."""
    written = {k: meta[k] for k in ("labels", "annotations") if k in meta}
    key = marshal.dumps([written, template.get("spec")])
    entry = _ENTRIES.get(key)
    if entry is None:
        paths = config_set({"metadata": written, "spec": template.get("spec") or {}}, schema.root("Pod"))
        paths |= {("f:metadata", "f:generateName"), ("f:metadata", "f:ownerReferences", _OWNER)}
        entry = {k: v for k, v in encode([Entry(CONTROLLER, "Update", "v1", frozenset(paths))])[0].items()
                 if k != "time"}
        if len(_ENTRIES) > 512:
            _ENTRIES.clear()
        _ENTRIES[key] = entry
    tree = entry["fieldsV1"]
    owners: Obj = {'k:{"uid":' + json.dumps(meta["ownerReferences"][0]["uid"]) + "}": {}}
    return {**entry, "fieldsV1": {**tree, "f:metadata": {**tree["f:metadata"], "f:ownerReferences": owners}}}



def _mount_token(spec: Obj, volume: str) -> None:
    """What the ServiceAccount admission plugin adds: the projected API token volume."""
    spec["volumes"] = [*(spec.get("volumes") or []), {"name": volume, "projected": {"sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                       "fieldPath": "metadata.namespace"}}]}},
    ], "defaultMode": 420}}]
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        container["volumeMounts"] = [*(container.get("volumeMounts") or []), {
            "name": volume, "readOnly": True, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]


def started_at(row: Row, settings: Settings) -> float:
    return float(row.sim["created"]) + settings.pod_ready_seconds


def ready_at(row: Row, settings: Settings) -> float | None:
    """When the pod turns Ready (None: never)."""
    return None if row.sim.get("crash") else started_at(row, settings)


def is_ready(row: Row, now: float, settings: Settings) -> bool:
    when = ready_at(row, settings)
    return when is not None and now >= when


def is_available(row: Row, now: float, settings: Settings, min_ready_seconds: int) -> bool:
    when = ready_at(row, settings)
    return when is not None and now >= when + min_ready_seconds


def _restarts(row: Row, now: float, settings: Settings) -> tuple[int, float]:
    """(restartCount, time of the next restart) of a crash-looping pod."""
    when, count, backoff = started_at(row, settings), 0, BACKOFF_START
    while when <= now:
        count += 1
        when += backoff
        backoff = min(backoff * 2, BACKOFF_MAX)
    return count, when


def next_change(row: Row, now: float, settings: Settings) -> float | None:
    """When this pod's status changes next."""
    start = started_at(row, settings)
    if now < start:
        return start
    if row.sim.get("crash"):
        return _restarts(row, now, settings)[1]
    return None


def _qos(spec: Obj) -> str:
    containers = spec.get("containers") or []
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    for r in resources:
        limits, requests = r.get("limits") or {}, r.get("requests") or {}
        for name in ("cpu", "memory"):
            if name not in limits or requests.get(name, limits[name]) != limits[name]:
                return "Burstable"
    return "Guaranteed"


def _condition(kind: str, status: bool, when: str, reason: str = "", message: str = "") -> Obj:
    out: Obj = {"type": kind, "status": "True" if status else "False", "lastProbeTime": None,
                "lastTransitionTime": when}
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


def _ip(uid: str) -> str:
    digest = hashlib.sha256(uid.encode()).digest()
    return f"10.244.{digest[0]}.{digest[1] or 1}"


def refresh(row: Row, now: float, settings: Settings) -> None:
    """Write the pod's status as of `now` (it only changes when it starts and when it restarts)."""
    pod = row.obj
    spec = pod["spec"]
    start = started_at(row, settings)
    running = now >= start
    crash = bool(row.sim.get("crash"))
    restarts, _ = _restarts(row, now, settings) if crash and running else (0, 0.0)
    epoch = [running, restarts]
    if row.sim.get("epoch") == epoch and pod.get("status"):
        return
    row.sim["epoch"] = epoch
    created = rfc3339(row.sim["created"])
    containers = spec.get("containers") or []
    statuses, unready = [], []
    begun = rfc3339(start)
    for c in containers:
        image = str(c.get("image", ""))
        status: Obj = {"name": c.get("name"), "state": {}, "lastState": {}, "ready": False, "restartCount": 0,
                       "image": image, "imageID": "", "started": False}
        if not running:
            status["state"] = {"waiting": {"reason": "ContainerCreating"}}
            unready.append(c.get("name"))
        elif "crashloop" in image:
            status["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": (
                f"back-off {int(min(BACKOFF_START * 2 ** max(restarts - 1, 0), BACKOFF_MAX))}s restarting failed "
                f"container={c.get('name')} pod={pod['metadata']['name']}")}}
            status["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": begun,
                                                  "finishedAt": begun}}
            status["restartCount"] = restarts
            status["imageID"] = f"sim://{image}"
            status["containerID"] = f"sim://{c.get('name')}"
            unready.append(c.get("name"))
        else:
            status.update({"state": {"running": {"startedAt": begun}}, "ready": True, "started": True,
                           "imageID": f"sim://{image}", "containerID": f"sim://{c.get('name')}"})
        statuses.append(status)
    ready = not unready
    message = f"containers with unready status: [{' '.join(str(n) for n in unready)}]" if unready else ""
    reason = "" if ready else "ContainersNotReady"
    since = begun if running else created
    pod["status"] = {
        "phase": "Running" if running else "Pending",
        "conditions": [
            _condition("PodReadyToStartContainers", running, since),
            _condition("Initialized", True, created),
            _condition("ContainersReady", ready, since, reason, message),
            _condition("Ready", ready, since, reason, message),
            _condition("PodScheduled", True, created),
        ],
        "hostIP": HOST_IP, "hostIPs": [{"ip": HOST_IP}],
        **({"podIP": _ip(pod["metadata"]["uid"]), "podIPs": [{"ip": _ip(pod["metadata"]["uid"])}]} if running else {}),
        "startTime": created,
        "containerStatuses": statuses,
        "qosClass": _qos(spec),
    }
