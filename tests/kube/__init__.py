"""Tests against the real Kubernetes control plane (marked `kube`)."""
