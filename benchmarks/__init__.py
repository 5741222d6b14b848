"""Stratum benchmarks: ``python -m benchmarks [NAME ...]`` prints one JSON document.

Every ``bench_*.py`` module here has ``run() -> dict``. Figures that depend on the
machine are compared with raw baselines measured in the same run (the machine is
shared and noisy), so each result carries a ``ratio`` and an ``ok`` verdict.
"""
