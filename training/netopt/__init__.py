"""Training-side helpers of the network models (datasets from the simulator, report tables)."""
