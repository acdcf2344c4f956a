"""Binning throughput of the real slicer + bincount path vs plain np.bincount, on synthetic
streams of increasing event rate (shows where per-slice overhead stops mattering)."""

import sys
from pathlib import Path

if not __package__:  # run as a file, not with -m: import this checkout's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_all import bench_binning, machine
from scripts.synthetic_events import random_events

if __name__ == "__main__":
    print(f"machine: {machine()}")
    for rate_mev in (0.2, 1.0, 5.0, 20.0):
        n = int(rate_mev * 1e6)  # one second of events
        ev = random_events(n, width=346, height=260, duration_us=1_000_000)
        r = bench_binning(ev, 30_000, 34)
        print(f"{rate_mev:5.1f} M ev/s stream: pipeline {r['pipeline_events_per_s'] / 1e6:7.1f} M ev/s, "
              f"np.bincount {r['bincount_events_per_s'] / 1e6:7.1f} M ev/s, ratio {r['ratio']:.2f}")
