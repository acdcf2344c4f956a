"""Benchmark scripts, each comparing against a baseline in the same run: ``python -m bench.NAME``
(or ``python bench/NAME.py``; ``r2etl bench`` runs bench_all). Not installed with r2etl."""
