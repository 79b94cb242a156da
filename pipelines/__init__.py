"""Dagster code location and the `clusterdata` command line."""
