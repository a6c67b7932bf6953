"""Benchmark runner, workers and report (see benchmarks/ and `automm benchmark`)."""
