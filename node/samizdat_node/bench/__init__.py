"""Benchmark scripts (`make bench`): each prints figures to record in docs/benchmarks.md."""
