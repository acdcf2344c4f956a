"""Binning throughput of the real slicer + bincount path vs plain np.bincount, on synthetic
streams of increasing event rate (shows where per-slice overhead stops mattering)."""

from r2etl_core.cli.bench import bench_binning, machine
from r2etl_core.testing import random_events

if __name__ == "__main__":
    print(f"machine: {machine()}")
    for rate_mev in (0.2, 1.0, 5.0, 20.0):
        n = int(rate_mev * 1e6)  # one second of events
        ev = random_events(n, width=346, height=260, duration_us=1_000_000)
        r = bench_binning(ev, 30_000, 34)
        print(f"{rate_mev:5.1f} M ev/s stream: pipeline {r['pipeline_events_per_s'] / 1e6:7.1f} M ev/s, "
              f"np.bincount {r['bincount_events_per_s'] / 1e6:7.1f} M ev/s, ratio {r['ratio']:.2f}")
