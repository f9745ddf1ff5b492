"""Sweeps: a base spec, grid axes over its keys, and executors that run the members."""
