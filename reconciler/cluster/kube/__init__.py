"""The cluster protocol on a real Kubernetes API server: the backend, its connection settings
(from the official client's kubeconfig / in-cluster loaders) and the raw HTTP transport."""
