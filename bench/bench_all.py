"""All benchmarks (same as ``r2etl bench``): python bench/bench_all.py [--quick]."""

import sys

from r2etl_core.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
