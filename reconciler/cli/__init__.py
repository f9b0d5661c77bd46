"""The `reconciler` command line: thin wrappers that parse arguments, call the layers, format output."""
