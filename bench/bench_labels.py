"""Labels sidecar loading: read_labels on a large plain file vs the row-by-row (csv module)
reader it falls back to, on the same file in the same process.

    python bench/bench_labels.py [--rows 3000000] [--repeat 2]

Prints seconds per load for both paths and the split of the fast one (read + column parse,
then making the LabelSegment objects, which is the floor as long as a list of them is returned).
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np

if not __package__:  # run as a file, not with -m: import this checkout's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_all import machine
from r2etl_core.io import labels


def write_file(path: Path, rows: int) -> Path:
    start = 1_633_953_690_975_950 + np.arange(rows, dtype=np.int64) * 100
    with open(path, "w") as f:
        f.write("start_us,end_us,label\n")
        f.write("\n".join(f"{s},{s + 90},{s % 10}" for s in start.tolist()))
        f.write("\n")
    return path


def timed(fn, *args) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=3_000_000)
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        path = write_file(Path(tmp) / "big.labels.csv", args.rows)
        print(f"{args.rows:,} rows, {path.stat().st_size / 1e6:.0f} MB")
        for _ in range(args.repeat):
            fast, segs = timed(labels.read_labels, path)
            text = path.read_text(encoding="utf-8")
            parse, cols = timed(labels._fast_columns, text)
            objects, _ = timed(labels._segments, *cols, path)
            del segs, cols, text
            with mock.patch.object(labels, "_fast_columns", lambda text: None):
                slow, _ = timed(labels.read_labels, path)
            print(f"read_labels {fast:6.2f} s (column parse {parse:.2f} s, segment objects {objects:.2f} s); "
                  f"row-by-row {slow:6.2f} s; ratio {slow / fast:.1f}x")
