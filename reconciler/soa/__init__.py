"""soa-configs: parsing, merging and validating the input format, from bytes a source supplies
(spec: soa-configs.md §1-4). Pure: the sources (`reconciler.sources`) do the reading."""
