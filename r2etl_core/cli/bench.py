"""``r2etl bench``: runs the benchmarks in the checkout's bench/ folder (bench/bench_all.py).

The measurements are scripts, not library code: they live beside the package, are not
installed with it, and run here in their own process, as ``python bench/bench_all.py`` does
(from the caller's folder, so relative --model and --recording paths mean what they did).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_bench(args: argparse.Namespace) -> int:
    if not (REPO / "bench" / "bench_all.py").is_file():
        print(f"r2etl bench: error: no bench/ folder beside the package ({REPO}): the benchmarks run "
              "from a checkout of the repository", file=sys.stderr)
        return 2
    flags = [*(["--model", args.model] if args.model else []),
             *(["--recording", args.recording] if args.recording else []),
             *(["--quick"] if args.quick else []), *(["--json"] if args.json else [])]
    return subprocess.call([sys.executable, str(REPO / "bench" / "bench_all.py"), *flags])
