"""Benchmarks: each prints a table with a baseline measured in the same run and the ratio to it."""
