"""Benchmarks for agent-storage (see /shared/bench/W1.md for the W1 workload)."""
