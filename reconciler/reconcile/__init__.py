"""The cycle's I/O steps: observe a cluster, plan with the engine, apply; one function for all."""
