"""The Kubernetes kinds the reconciler reads and writes, where they live in the API, and which of
them are workloads (pure data, shared by the engine and the cluster backends)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Kind:
    kind: str
    api_version: str
    plural: str
    namespaced: bool = True

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0] if "/" in self.api_version else ""

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """The REST path: /api/v1/... for the core group, /apis/<group>/<version>/... otherwise."""
        base = f"/apis/{self.api_version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


#: The kinds that run pods and roll out (bounces, health, budgets).
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet"})

KINDS: dict[str, Kind] = {k.kind: k for k in (
    Kind("Namespace", "v1", "namespaces", namespaced=False),
    Kind("Deployment", "apps/v1", "deployments"),
    Kind("StatefulSet", "apps/v1", "statefulsets"),
    Kind("ReplicaSet", "apps/v1", "replicasets"),
    Kind("ControllerRevision", "apps/v1", "controllerrevisions"),
    Kind("PodDisruptionBudget", "policy/v1", "poddisruptionbudgets"),
    Kind("HorizontalPodAutoscaler", "autoscaling/v2", "horizontalpodautoscalers"),
    Kind("Pod", "v1", "pods"),
    Kind("Lease", "coordination.k8s.io/v1", "leases"),
    Kind("ConfigMap", "v1", "configmaps"),
    Kind("ServiceAccount", "v1", "serviceaccounts"),
)}


def kind_of(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unsupported kind {name!r}; known: {', '.join(KINDS)}") from None
