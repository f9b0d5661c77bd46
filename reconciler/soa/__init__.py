"""soa-configs: reading, merging and validating the input format (spec: soa-configs.md §1-4)."""
