"""Scripts that make the demo and test data and run the experiments: ``python -m scripts.NAME``
(or ``python scripts/NAME.py``). Not installed with r2etl; tests import them as modules."""
