"""Soak: the demo recording looped at full speed through the engine for minutes; does memory grow?

    python bench/soak.py [--minutes 2] [--sample-s 5] [--baseline-s 30] [--device cpu] [RECORDING]

The engine runs the viewer's configuration (frames for the views, 512 outputs kept) on an
unpaced looped replay, and outputs are taken 30 times a second as the viewer's display timer
does. Resident memory (RSS, from /proc) and the count of live Python objects are sampled
every --sample-s. The first --baseline-s are the warm-up (allocator pools, caches, the CUDA
context): memory growth after it is what would add up over hours. The run prints one line per
sample, then the growth per minute during the baseline and after it (least-squares slope) and
one JSON line with the numbers.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

if not __package__:  # run as a file, not with -m: import this checkout's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "recordings" / "nmnist-demo.aedat4"
DISPLAY_S = 1 / 30


def rss_mb() -> float:
    """Resident memory of this process now (Linux: /proc/self/statm, in pages)."""
    with open("/proc/self/statm") as f:
        resident_pages = int(f.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def slope_per_min(samples: list[tuple[float, float]]) -> float | None:
    """Least-squares growth of the second value per minute of the first (seconds)."""
    if len(samples) < 3:
        return None
    t, y = np.array(samples).T
    return float(np.polyfit(t / 60.0, y, 1)[0])


def soak(recording: Path, minutes: float, sample_s: float, baseline_s: float, device: str | None) -> dict:
    from r2etl_core.stream.settings import EngineConfig
    from r2etl_core.stream.session import LiveSession

    # the viewer's session and engine, headless: outputs taken at a display's rate
    session = LiveSession(engine_config=EngineConfig(history=512, device=device), speed=None, loop=True)
    session.load_model()
    session.start_input(session.open_input(str(recording)))
    engine = session.engine
    samples: list[tuple[float, float, int, int]] = []  # (s, RSS MB, objects, slices)
    t0 = time.monotonic()
    next_sample = 0.0
    try:
        while (now := time.monotonic() - t0) < minutes * 60:
            session.poll(with_stats=False)
            if now >= next_sample:
                samples.append(sample(engine, now))
                next_sample += sample_s
            engine.wait(DISPLAY_S)  # a display's tick (the engine never ends on a looped file)
        session.poll(with_stats=False)
        samples.append(sample(engine, time.monotonic() - t0))
    finally:
        session.close()
    return summarise(samples, baseline_s, engine.device_label)


def sample(engine, now: float) -> tuple[float, float, int, int]:
    """One line of the log: (s, RSS MB, live Python objects, slices so far)."""
    stats = engine.stats()
    if not stats.running:
        raise SystemExit(f"the engine stopped: {stats.error or stats.input_lost or 'input ended'}")
    row = (now, rss_mb(), len(gc.get_objects()), stats.slices_done)
    print(f"{row[0]:7.1f} s  RSS {row[1]:8.1f} MB  objects {row[2]:8d}  slices {row[3]:9d}  "
          f"({stats.slices_per_s:7.1f}/s, {stats.events_per_s / 1e6:5.2f} M ev/s)", flush=True)
    return row


def summarise(samples: list[tuple[float, float, int, int]], baseline_s: float, device: str) -> dict:
    warm = [(t, rss) for t, rss, _, _ in samples if t <= baseline_s]
    after = [(t, rss) for t, rss, _, _ in samples if t >= baseline_s]
    objects_after = [(t, n) for t, _, n, _ in samples if t >= baseline_s]
    end = samples[-1]
    first_after = next((s for s in samples if s[0] >= baseline_s), end)
    return {
        "device": device, "seconds": round(end[0], 1), "slices": end[3],
        "rss_start_mb": round(samples[0][1], 1), "rss_baseline_end_mb": round(first_after[1], 1),
        "rss_end_mb": round(end[1], 1), "rss_peak_mb": round(max(s[1] for s in samples), 1),
        "baseline_mb_per_min": _round(slope_per_min(warm)),
        "after_baseline_mb_per_min": _round(slope_per_min(after)),
        "after_baseline_net_mb": round(end[1] - first_after[1], 1),
        "objects_after_baseline_per_min": _round(slope_per_min(objects_after)),
        "objects_after_baseline_net": end[2] - first_after[2],
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recording", nargs="?", default=str(DEMO), help="default: the bundled demo")
    p.add_argument("--minutes", type=float, default=2.0, help="how long to run (default 2)")
    p.add_argument("--sample-s", type=float, default=5.0, help="seconds between samples (default 5)")
    p.add_argument("--baseline-s", type=float, default=30.0, help="warm-up, compared against (default 30)")
    p.add_argument("--device", default=None, help="cpu, cuda (default: CUDA when present)")
    args = p.parse_args()
    if not (args.minutes * 60 > args.baseline_s + 2 * args.sample_s > 0):
        p.error("--minutes must leave room for samples after --baseline-s")
    result = soak(Path(args.recording), args.minutes, args.sample_s, args.baseline_s, args.device)
    print(f"RSS {result['rss_start_mb']} MB at start, {result['rss_baseline_end_mb']} MB after the "
          f"baseline, {result['rss_end_mb']} MB at the end (peak {result['rss_peak_mb']} MB)")
    print(f"growth: {result['baseline_mb_per_min']} MB/min during the baseline, "
          f"{result['after_baseline_mb_per_min']} MB/min after it "
          f"({result['after_baseline_net_mb']:+} MB net); Python objects "
          f"{result['objects_after_baseline_per_min']}/min after it "
          f"({result['objects_after_baseline_net']:+d} net)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
