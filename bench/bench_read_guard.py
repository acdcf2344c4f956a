"""Cost of the damaged-file guard on reading .aedat4 recordings: events/s of a full read
(open + all batches) with and without it, in the same run, plus the guard's own pass alone.

The guard reads the whole file once more and decompresses every event packet before dv does,
so the cost is that pass; a run prints one line per recording:
python bench/bench_read_guard.py [--quick]
"""

import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

if not __package__:  # run as a file, not with -m: import this checkout's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_all import machine
from r2etl_core.io.dv import AedatReader, AedatWriter
from r2etl_core.io.dv.guard import scan_file
from scripts.synthetic_events import random_events

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "recordings"


def seconds(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def read_all(path: Path, guard: bool) -> int:
    reader = AedatReader(path, guard=guard)
    try:
        return sum(len(b) for b in reader.batches())
    finally:
        reader.close()


def synthetic(folder: Path, n_events: int) -> Path:
    """A bigger recording than the shipped ones: random DVXplorer events, ~1 s per 2M."""
    path = folder / f"synthetic-{n_events // 1_000_000}M.aedat4"
    with AedatWriter(path, 640, 480, "DVXplorer_bench") as writer:
        for k in range(0, n_events, 100_000):
            t0 = k // 100_000 * 50_000
            writer.write(random_events(100_000, 640, 480, duration_us=50_000, t0_us=t0, seed=k))
    return path


def report(path: Path, repeat: int) -> None:
    events = read_all(path, guard=True)
    times: dict[str, list[float]] = {"with": [], "without": [], "scan": []}
    for _ in range(repeat):  # interleaved, so a busy machine slows all three alike; best of each
        times["with"].append(seconds(lambda: read_all(path, True)))
        times["without"].append(seconds(lambda: read_all(path, False)))
        times["scan"].append(seconds(lambda: scan_file(path)))
    with_guard, without, scan = (min(times[k]) for k in ("with", "without", "scan"))
    size_mb = path.stat().st_size / 1e6
    print(f"{path.name:36s} {size_mb:6.1f} MB {events:>9,d} ev: with guard {events / with_guard / 1e6:6.2f} M ev/s, "
          f"without {events / without / 1e6:6.2f} M ev/s ({(with_guard / without - 1) * 100:+5.1f}% time); "
          f"guard pass alone {scan * 1e3:6.1f} ms ({size_mb / scan:6.0f} MB/s)")


if __name__ == "__main__":
    quick = "--quick" in sys.argv[1:]
    repeat = 3 if quick else 7
    print(f"machine: {machine()}")
    recordings = sorted((REPO / "recordings").glob("*.aedat4")) + sorted(SHARED.glob("dvxplorer*.aedat4"))
    for rec in recordings:
        report(rec, repeat)
    with tempfile.TemporaryDirectory() as tmp:
        report(synthetic(Path(tmp), 1_000_000 if quick else 4_000_000), 3)
