"""Benchmarks: each runs as ``python -m bench.NAME`` (``--quick`` for a small smoke run)
and prints, as its last line, one JSON object with the figures it measures."""
