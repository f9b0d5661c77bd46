"""reconciler: a GitOps reconciler for soa-configs repositories on Kubernetes."""

__version__ = "0.1.0"
