"""All benchmarks, as ``r2etl bench`` runs them, and the measurements the other bench/ scripts
share. Each number is printed next to a baseline measured in the same run, so a slower machine
moves both.

    python -m bench.bench_all [--model M] [--recording R] [--quick] [--json]
    (or python bench/bench_all.py, or r2etl bench from a checkout)
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

if not __package__:  # run as a file, not with -m: import this checkout's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from r2etl_core.io.modelfile import DEFAULT_MODEL_PATH, load_model
from r2etl_core.stream.slicing import StreamSlicer, bin_slices, slices_index
from r2etl_core.types import EventBatch, FrameSpec, SliceByTime

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "recordings" / "nmnist-demo.aedat4"
DVX = REPO / "recordings" / "davis346-lab-frames.aedat4"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    return f"{platform.node()} {cpu}, {os.cpu_count()} CPUs{gpu}, torch {torch.__version__}"


def _best_of(fn: Callable[[], None], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_binning(events: EventBatch, slice_us: int, out_size: int, repeat: int = 5,
                  chunk: int = 65_536, device: str = "cpu") -> dict:
    """Frames of every time slice, made by the real pipeline (chunked ingest, StreamSlicer,
    ``slices_index`` + ``bin_slices``), vs the same frames from one plain ``np.bincount`` over
    the whole decoded array: events/s of each and their ratio (1.0 = no overhead)."""
    spec = FrameSpec.centred(events.width, events.height, out_size)
    dev = torch.device(device)

    def pipeline() -> None:
        slicer = StreamSlicer(SliceByTime(slice_us))
        for lo in range(0, len(events), chunk):
            slices = slicer.push(events.select(slice(lo, lo + chunk)))
            if lo + chunk >= len(events):
                slices += slicer.flush()
            if slices:
                bin_slices(torch.from_numpy(slices_index(slices, spec)).to(dev), len(slices), spec)
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def baseline() -> None:
        # the same frames from one np.bincount over the decoded array: slice ids by
        # searchsorted on the time grid, no chunking, no slicer
        s = out_size
        t0 = (int(events.t[0]) // slice_us) * slice_us
        edges = np.arange(t0 + slice_us, int(events.t[-1]) + slice_us + 1, slice_us)
        sid = np.searchsorted(edges, events.t, side="right")
        x = (events.x.astype(np.int64) - spec.roi_x) * s // spec.roi_size
        y = (events.y.astype(np.int64) - spec.roi_y) * s // spec.roi_size
        ok = (x >= 0) & (x < s) & (y >= 0) & (y < s)
        flat = sid * (2 * s * s) + (1 - events.p.astype(np.int64)) * s * s + y * s + x
        np.bincount(flat[ok], minlength=len(edges) * 2 * s * s).astype(np.float32)

    t_pipe, t_base = _best_of(pipeline, repeat), _best_of(baseline, repeat)
    n = len(events)
    return {"events": n, "slice_us": slice_us, "pipeline_events_per_s": n / t_pipe,
            "bincount_events_per_s": n / t_base, "ratio": t_base / t_pipe}


def bench_model_step(model_path: Path, device: str = "cpu", steps: int = 300, threads: int = 1) -> dict:
    """Single-step latency of the streaming network (state carried) vs the real-time budget
    (one slice length) and vs the per-step cost of a multi-step batch-1 forward.
    ``threads``: torch intra-op threads on the CPU (the engine uses 1)."""
    if device == "cpu":
        torch.set_num_threads(threads)
    model, meta = load_model(model_path, device)
    s = meta.config.input_size
    dev = torch.device(device)
    frames = torch.poisson(torch.full((steps, 1, 2, s, s), 0.3)).to(dev)
    times = []
    model.set_step_mode("s")
    with torch.no_grad():
        for i in range(steps):
            if i % meta.config.time_steps == 0:
                model.reset_state()
            t0 = time.perf_counter()
            model(frames[i])
            if dev.type == "cuda":
                torch.cuda.synchronize()
            times.append((time.perf_counter() - t0) * 1e3)
        model.set_step_mode("m")
        model.reset_state()
        t_steps = meta.config.time_steps
        t_multi = _best_of(lambda: (model(frames[:t_steps]), model.reset_state()), 5) * 1e3 / t_steps
    warm = np.array(times[10:])
    budget_ms = meta.slicing.slice_us / 1e3
    return {"device": device, "threads": torch.get_num_threads(), "p50_ms": float(np.percentile(warm, 50)),
            "p99_ms": float(np.percentile(warm, 99)), "multistep_per_step_ms": t_multi,
            "budget_ms": budget_ms, "headroom_x": budget_ms / float(np.percentile(warm, 99))}


def bench_end_to_end(model_path: Path, recording: Path, speed: float | None) -> dict:
    """Whole engine on a recording: as fast as possible (slices/s vs the real-time rate) or
    paced at ``speed`` with drop-oldest (are slices dropped?)."""
    from r2etl_core.stream.settings import OFFLINE, EngineConfig
    from r2etl_core.stream.session import LiveSession

    # as fast as possible = what `r2etl classify` runs; paced = what the viewer runs
    session = LiveSession(engine_config=OFFLINE if speed is None else EngineConfig(), speed=speed)
    session.load_model(model_path)
    model, opened = session.model, session.open_input(str(recording))
    t0 = time.perf_counter()
    session.start_input(opened)
    n = 0
    while not session.engine.wait(0.05):  # outputs taken as a display would
        n += len(session.poll(with_stats=False)[0])
    n += len(session.poll(with_stats=False)[0])
    wall = time.perf_counter() - t0
    st = session.engine.stats()
    session.close()
    realtime = 1e6 / model.meta.slicing.slice_us
    return {"recording": recording.name, "speed": speed or "max", "slices": n, "wall_s": wall,
            "slices_per_s": n / wall, "realtime_slices_per_s": realtime, "dropped": st.dropped,
            "latency_ms_p50": st.latency_ms_p50, "latency_ms_p99": st.latency_ms_p99,
            "error": st.error}


def run_all(model_path: str | None = None, recording: str | None = None, quick: bool = False,
            log: Callable[[str], None] | None = print) -> dict:
    from r2etl_core.io.dv import read_all_events

    say = log or (lambda _m: None)
    model_path = Path(model_path) if model_path else DEFAULT_MODEL_PATH
    rec = Path(recording) if recording else DEMO
    out: dict = {"machine": machine()}
    say(f"machine: {out['machine']}")
    torch.set_num_threads(1)  # as the engine runs it
    for name in (rec, DVX):
        if not name.exists():
            continue
        ev = read_all_events(name)
        r = bench_binning(ev, 30_000, 34, repeat=3 if quick else 7)
        out[f"binning_{name.stem}"] = r
        say(f"binning {name.name}: pipeline {r['pipeline_events_per_s'] / 1e6:.1f} M ev/s vs plain "
            f"np.bincount {r['bincount_events_per_s'] / 1e6:.1f} M ev/s -> ratio {r['ratio']:.2f} (target >= 0.9)")
    runs = [("cpu", 1), ("cpu", 2)] + [("cuda", 1)] * torch.cuda.is_available()
    for dev, threads in runs:
        r = bench_model_step(model_path, dev, steps=100 if quick else 400, threads=threads)
        key = f"model_step_{dev}" + (f"_{threads}threads" if dev == "cpu" else "")
        out[key] = r
        where = f"{dev}, {threads} threads" if dev == "cpu" else dev
        say(f"model step ({where}): p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms; multi-step "
            f"{r['multistep_per_step_ms']:.2f} ms/step; budget {r['budget_ms']:.0f} ms/slice -> "
            f"{r['headroom_x']:.1f}x headroom at p99")
    if rec.exists():
        r = bench_end_to_end(model_path, rec, None)
        out["end_to_end_max"] = r
        model_only = 1e3 / out["model_step_cpu_1threads"]["multistep_per_step_ms"]
        r["vs_model_only_multistep"] = r["slices_per_s"] / model_only
        say(f"end-to-end {rec.name} as fast as possible: {r['slices_per_s']:.0f} slices/s vs "
            f"{r['realtime_slices_per_s']:.0f} needed for 1x ({r['slices_per_s'] / r['realtime_slices_per_s']:.1f}x "
            f"real time); model-only multi-step {model_only:.0f} slices/s -> ratio "
            f"{r['vs_model_only_multistep']:.2f} (target >= 0.8)")
        if not quick:
            r = bench_end_to_end(model_path, rec, 1.0)
            out["end_to_end_1x"] = r
            say(f"end-to-end {rec.name} at 1x: {r['slices']} slices, {r['dropped']} dropped (target 0), "
                f"events-to-prediction latency p50 {r['latency_ms_p50']:.1f} ms, p99 {r['latency_ms_p99']:.1f} ms")
    if torch.cuda.is_available():
        from bench.gpu_check import run as gpu_check

        out["gpu_check"] = gpu_check(torch.device("cuda"), quick, say)
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    from r2etl_core.errors import R2ETLError

    ap = argparse.ArgumentParser(prog="r2etl bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model file (default: the bundled model)")
    ap.add_argument("--recording", help="recording for the end-to-end run (default: bundled demo)")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    ap.add_argument("--json", action="store_true", help="print results as one JSON line")
    args = ap.parse_args(argv)
    try:
        results = run_all(model_path=args.model, recording=args.recording, quick=args.quick,
                          log=None if args.json else print)
    except R2ETLError as exc:
        print(f"r2etl bench: error: {' '.join(str(exc).splitlines())}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
