"""Benchmarks: they print figures and are not part of the test suite.

Run them as modules from the repository root, for example `python -m tests.bench.ingest`.
"""
