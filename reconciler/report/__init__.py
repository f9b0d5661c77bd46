"""Reports built from cycles: instance status rows (drift), counts."""
