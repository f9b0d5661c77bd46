"""The cluster layer: one small protocol, two backends (real Kubernetes and the simulated cluster)."""
