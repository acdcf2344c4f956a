"""The GPU check: see r2etl_core/cli/gpu_check.py. Prints one table and writes JSON.

    python bench/gpu_check.py [--out runs/gpu_check.json] [--quick] [--allow-cpu]
"""

import sys

from r2etl_core.cli.gpu_check import main

if __name__ == "__main__":
    sys.exit(main())
