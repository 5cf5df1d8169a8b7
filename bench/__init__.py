"""Benchmarks of Ghost Story Factory: run ``python -m bench.run`` to measure and write BENCHMARKS.md."""
