"""Training (R2ETL and baselines), evaluation and their CLI. Needs torch, like the rest of the core."""
