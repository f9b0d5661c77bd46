"""Rendering: pure functions from typed instance configs to Kubernetes objects (soa-configs.md §5-6)."""
