"""The reconcile engine: pure functions from desired and live objects to decisions."""
