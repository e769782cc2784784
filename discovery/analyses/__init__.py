"""Analyses of the inventory: the dependency graph and its metrics, move groups and waves, end-of-life and
protocol findings, and migration risk."""
