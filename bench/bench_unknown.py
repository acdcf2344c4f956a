"""Cost of the "unknown" answer per slice: the default model stepping the demo with its detector
against the same model with the detector removed, in the same process, interleaved.

    python bench/bench_unknown.py [--repeat 5] [--run 1]

``--run 1`` steps one slice at a time, as the live engine does when it keeps up; larger runs are
how offline classification and a catching-up stream step. Prints ms per slice (median over the
repeats) for both and their ratio (target: <= 1.2).
"""

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import torch

if not __package__:  # run as a file, not with -m: import this checkout's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_all import machine
from r2etl_core.io.dv import read_all_events
from r2etl_core.io.modelfile import DEFAULT_MODEL_PATH, load_model
from r2etl_core.nn.inference import InferenceCore
from r2etl_core.stream.slicing import StreamSlicer, binned_offline
from r2etl_core.types import FrameSpec


def binned_demo(meta, path):
    events = read_all_events(path)
    spec = FrameSpec.centred(events.width, events.height, meta.config.input_size)
    slicer = StreamSlicer(meta.slicing.slicer())
    return binned_offline(slicer.push(events) + slicer.flush(), spec, torch.device("cpu"))


def ms_per_slice(core: InferenceCore, items, run: int) -> float:
    core.request_reset()
    t0 = time.perf_counter()
    for a in range(0, len(items), run):
        core.step_many(items[a:a + run])
    return (time.perf_counter() - t0) * 1e3 / len(items)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--run", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(1)
    model, meta = load_model(DEFAULT_MODEL_PATH)
    items = binned_demo(meta, DEFAULT_MODEL_PATH.parents[2] / "recordings" / "nmnist-demo.aedat4")
    with_det = InferenceCore(model, meta, torch.device("cpu"), frames=False)
    without = InferenceCore(model, dataclasses.replace(meta, unknown={}), torch.device("cpu"), frames=False)
    times = {"with": [], "without": []}
    for _ in range(args.repeat):
        times["without"].append(ms_per_slice(without, items, args.run))
        times["with"].append(ms_per_slice(with_det, items, args.run))
    a, b = statistics.median(times["with"]), statistics.median(times["without"])
    print(machine())
    print(f"{len(items)} demo slices, {args.run} per forward, median of {args.repeat}: "
          f"with detector {a:.3f} ms/slice, without {b:.3f} ms/slice, ratio {a / b:.3f} (target <= 1.2)")


if __name__ == "__main__":
    main()
