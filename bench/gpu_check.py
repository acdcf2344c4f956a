"""One GPU check: every number the GPU path promises, measured in one run, as a table + JSON.

    python bench/gpu_check.py [--out runs/gpu_check.json] [--quick] [--allow-cpu]
    (or python -m bench.gpu_check; also part of `r2etl bench` when CUDA is present)

1. Streaming step, eager vs captured CUDA graph (p50/p99 ms), for the shipped model, the
   paper's full-width network at 48x48, and both with K staggered copies.
2. Binning throughput on the GPU: a synthetic 640x480 stream, 30 ms slices, events/s.
3. Events-to-prediction latency replaying the demo recording at 1x (paced, drop-oldest).
4. R2ETL training throughput (image+event pairs/s), full width, 48x48, T=10, batch 32,
   fp32 vs bf16 autocast.
Each measurement compares against its baseline in the same run (eager step, plain bincount,
the 30 ms real-time budget, fp32). With ``--allow-cpu`` it runs on the CPU as a smoke test.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

if not __package__:  # run as a file, not with -m: import this checkout's packages (installed or not)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from r2etl_core.io.modelfile import DEFAULT_MODEL_PATH, load_model
from r2etl_core.nn.model import ModelConfig, build_model
from r2etl_core.types import BinnedSlice, EventBatch, EventSlice, FrameSpec, Readout

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "recordings" / "nmnist-demo.aedat4"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _percentiles(times_ms: list[float]) -> dict:
    warm = np.array(times_ms[len(times_ms) // 10:])
    return {"p50_ms": float(np.percentile(warm, 50)), "p99_ms": float(np.percentile(warm, 99))}


def step_latency(model: torch.nn.Module, config: ModelConfig, device: torch.device, copies: int,
                 cuda_graph: bool, steps: int) -> dict:
    """Per-slice step time through the inference core (what the engine runs)."""
    from r2etl_core.nn.meta import ModelMeta
    from r2etl_core.nn.inference import InferenceCore

    meta = ModelMeta(config, tuple(str(i) for i in range(config.num_classes)))
    readout = Readout("staggered", copies=copies) if copies > 1 else Readout()
    core = InferenceCore(model, meta, device, readout=readout, frames=False, cuda_graph=cuda_graph)
    s = config.input_size
    frame = (torch.rand(2, s, s, device=device) < 0.1).float() * 2
    empty = EventBatch.empty(s, s)
    times = []
    for i in range(steps):
        item = BinnedSlice(EventSlice(i * 30_000, (i + 1) * 30_000, empty), frame, time.monotonic(), 0.0, 0.0)
        _sync(device)
        t0 = time.perf_counter()
        core.step(item)  # includes the device->host copy of the outputs: a real sync
        times.append((time.perf_counter() - t0) * 1e3)
    return {**_percentiles(times), "mode": core.step_label, "copies": copies}


def binning_throughput(device: torch.device, events: int, repeat: int) -> dict:
    """640x480 random events cut into 30 ms slices, binned on ``device``; vs one plain
    bincount of the same index on the same device."""
    from r2etl_core.stream.slicing import bin_slices, bin_to_device, slices_index

    rng = np.random.default_rng(0)
    w, h, span_us = 640, 480, 1_000_000
    t = np.sort(rng.integers(0, span_us, events)).astype(np.int64)
    batch = EventBatch(t, rng.integers(0, w, events).astype(np.int16), rng.integers(0, h, events).astype(np.int16),
                       rng.integers(0, 2, events).astype(np.int8), w, h)
    cuts = np.searchsorted(t, np.arange(0, span_us + 1, 30_000))
    slices = [EventSlice(int(a), int(a) + 30_000, batch.select(slice(lo, hi)))
              for a, lo, hi in zip(range(0, span_us, 30_000), cuts[:-1], cuts[1:])]
    spec = FrameSpec.centred(w, h, 48)
    index = torch.from_numpy(slices_index(slices, spec)).to(device)

    def pipeline() -> None:
        bin_to_device(slices, spec, device)

    def counting_only() -> None:
        bin_slices(index, len(slices), spec)

    return {"pipeline_events_per_s": events / _best(pipeline, device, repeat),
            "bincount_only_events_per_s": events / _best(counting_only, device, repeat)}


def _best(fn: Callable[[], None], device: torch.device, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return best


def recording_latency(device: torch.device) -> dict:
    """The demo at 1x through the viewer's engine configuration (paced, drop-oldest)."""
    from r2etl_core.stream.settings import EngineConfig
    from r2etl_core.stream.pipeline import build_pipeline, load_model_file, open_input

    engine = build_pipeline(open_input(str(DEMO), speed=1.0), load_model_file(),
                            config=EngineConfig(device=str(device)))
    while engine.stats().running:
        time.sleep(0.1)
        engine.take_outputs()
    st = engine.stats()
    engine.close()
    return {"slices": st.slices_done, "dropped": st.dropped, "latency_ms_p50": st.latency_ms_p50,
            "latency_ms_p99": st.latency_ms_p99, "model_ms_p50": st.model_ms_p50,
            "model_ms_p99": st.model_ms_p99, "device": st.device}


def training_throughput(device: torch.device, bf16: bool, steps: int, batch: int = 32) -> dict:
    """R2ETL objective (TET x2 + CKA + TCKA), full width, 48x48, T=10: pairs/s."""
    from r2etl_core.train.objective import Objective

    torch.manual_seed(0)
    model = build_model(ModelConfig(input_size=48, width=1.0, time_steps=10)).to(device)
    objective = Objective(model, "r2etl")
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    events = (torch.rand(10, batch, 2, 48, 48, device=device) < 0.05).float()
    images = torch.rand(batch, 3, 48, 48, device=device)
    labels = torch.randint(0, 10, (batch,), device=device)
    times = []
    for _ in range(steps):
        _sync(device)
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss, _parts, _logits = objective(events, labels, images)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        _sync(device)
        times.append(time.perf_counter() - t0)
    per_step = float(np.median(times[max(1, steps // 5):]))
    return {"pairs_per_s": batch / per_step, "step_ms": per_step * 1e3, "bf16": bf16}


def run(device: torch.device, quick: bool, log: Callable[[str], None] = print) -> dict:
    steps = 50 if quick else 500
    shipped, meta = load_model(DEFAULT_MODEL_PATH)
    full_cfg = ModelConfig(input_size=48, width=1.0, time_steps=10)
    out: dict = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                 "torch": torch.__version__, "steps": {}}
    log(f"device: {out['device']}, torch {out['torch']}")
    log("| network | copies | eager p50 / p99 ms | captured p50 / p99 ms | captured mode |")
    log("|---|---|---|---|---|")
    for name, cfg, make in (("shipped 34x34", meta.config, lambda: load_model(DEFAULT_MODEL_PATH)[0]),
                            ("full width 48x48", full_cfg, lambda: build_model(full_cfg))):
        for copies in (1, 5):
            eager = step_latency(make(), cfg, device, copies, False, steps)
            graph = step_latency(make(), cfg, device, copies, True, steps)
            out["steps"][f"{name} K={copies}"] = {"eager": eager, "captured": graph}
            log(f"| {name} | {copies} | {eager['p50_ms']:.3f} / {eager['p99_ms']:.3f} | "
                f"{graph['p50_ms']:.3f} / {graph['p99_ms']:.3f} | {graph['mode']} |")
    binning = binning_throughput(device, 2_000_000 if quick else 50_000_000, 2 if quick else 5)
    out["binning_640x480"] = binning
    log(f"binning 640x480: {binning['pipeline_events_per_s'] / 1e6:.0f} M ev/s end to end (index + transfer "
        f"+ count) vs counting alone {binning['bincount_only_events_per_s'] / 1e6:.0f} M ev/s (target >= 50)")
    if DEMO.exists():
        rec = recording_latency(device)
        out["demo_1x"] = rec
        log(f"demo at 1x: events-to-prediction p50 {rec['latency_ms_p50']:.2f} ms, p99 "
            f"{rec['latency_ms_p99']:.2f} ms; step p99 {rec['model_ms_p99']:.2f} ms; dropped {rec['dropped']} "
            f"of {rec['slices']} ({rec['device']})")
    fp32 = training_throughput(device, False, 5 if quick else 30)
    bf16 = training_throughput(device, True, 5 if quick else 30)
    out["training"] = {"fp32": fp32, "bf16": bf16}
    log(f"R2ETL training, full width 48x48 T=10 batch 32: fp32 {fp32['pairs_per_s']:.0f} pairs/s, bf16 "
        f"{bf16['pairs_per_s']:.0f} pairs/s ({bf16['pairs_per_s'] / fp32['pairs_per_s']:.2f}x)")
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="gpu_check", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(REPO / "runs" / "gpu_check.json"), help="JSON results file")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    ap.add_argument("--allow-cpu", action="store_true", help="run on the CPU when there is no GPU (smoke test)")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available() and not args.allow_cpu:
        print("gpu_check: no CUDA GPU on this machine (use --allow-cpu for a CPU smoke run)")
        return 2
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    results = run(device, args.quick)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
