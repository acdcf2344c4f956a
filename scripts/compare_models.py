"""Compare model files on the per-sample split and on the continuous streams, with the default
readout: the rule for replacing the shipped model is "better on both".

    python scripts/make_continuous_streams.py          # once: writes runs/streams/
    python scripts/compare_models.py r2etl_core/models/nmnist-r2etl.safetensors runs/ship2/last.safetensors \\
        [--streams runs/streams] [--json out.json]

Per model: accuracy on the fixed validation split (what `r2etl eval --split val` prints; the 204
held-out N-MNIST samples), then per stream the segment accuracy, settle time p50 and the "no
decision" rates with `Readout()` / `ResetPolicy()` (what `r2etl classify` and the viewer use),
and, for the held-digit streams, `r2etl eval` on the stream's own samples one by one (clean,
from the sample's start): the number the stream's segment accuracy is compared with.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

import numpy as np

if not __package__:  # run as a file, not with -m: import this checkout's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from r2etl_core.io.modelfile import load_model, read_meta
from r2etl_core.stream.classify import ClassifyRequest, classify_input
from r2etl_core.stream.settings import StreamSettings
from r2etl_core.train.datasets.events import scan_event_folders
from r2etl_core.train.evaluate import eval_event_set, predict
from r2etl_core.types import Readout, ResetPolicy

REPO = Path(__file__).resolve().parents[1]
NMNIST = REPO.parent / "shared" / "data" / "nmnist" / "Train"
STREAMS = ["held-noise0hz", "held-noise1hz", "held-noise5hz", "single-noise1hz", "mixed", "idle-noise1hz",
           "idle-noise5hz"]


def stream_samples(stream: Path) -> list[str]:
    """The N-MNIST samples a continuous stream holds, in order (its ``.samples.txt``)."""
    lines = stream.with_suffix(".samples.txt").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


@functools.lru_cache(maxsize=4)
def _all_predictions(model_path: Path) -> tuple[dict[str, int], np.ndarray, np.ndarray]:
    """(sample path -> row, predictions, labels) of ``r2etl eval`` on every N-MNIST sample, once per model."""
    model, meta = load_model(model_path, "cpu")
    events = eval_event_set("nmnist", NMNIST, meta, "all", files=scan_event_folders("nmnist", NMNIST))
    return {p: i for i, p in enumerate(events.paths)}, predict(model, events.frames), events.labels


def per_sample(model_path: Path, samples: list[str] | None) -> float:
    """Accuracy of ``r2etl eval`` on the model's held-out split (None), or on the listed samples."""
    pos, preds, labels = _all_predictions(model_path)
    if samples is None:
        samples = read_meta(model_path).training["holdout"]
    keep = np.asarray([pos[s] for s in samples])
    return float((preds[keep] == labels[keep]).mean())


def on_stream(model_path: Path, stream: Path) -> dict:
    settings = StreamSettings(readout=Readout(), reset=ResetPolicy())
    s = classify_input(ClassifyRequest(str(stream), model=model_path, settings=settings))
    return {k: s.get(k) for k in ("segment_accuracy", "settle_ms_p50", "abstain_rate", "abstain_rate_idle",
                                  "segments", "dropped")}


def cell(name: str, r: dict) -> str:
    if name.startswith("idle"):
        return f"idle {r['abstain_rate_idle']:.0%}"
    settle = "-" if r["settle_ms_p50"] is None else f"{r['settle_ms_p50']:.0f}"
    text = f"{r['segment_accuracy']:.3f} / {settle} ms / {r['abstain_rate']:.0%}"
    if "eval_same_digits" in r:
        text += f" (eval {r['eval_same_digits']:.3f})"
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--streams", type=Path, default=REPO / "runs" / "streams")
    ap.add_argument("--json", type=Path, help="also write every number to this JSON file")
    args = ap.parse_args()
    streams = [args.streams / f"{n}.aedat4" for n in STREAMS] + [REPO / "recordings" / "nmnist-demo.aedat4"]
    results: dict[str, dict] = {}
    print("| model | val split | " + " | ".join(s.stem for s in streams) + " |")
    print("|---" * (len(streams) + 2) + "|")
    for model in args.models:
        row = {"val_split": per_sample(model, None)}
        for stream in streams:
            r = on_stream(model, stream)
            if stream.stem.startswith("held"):
                r["eval_same_digits"] = per_sample(model, stream_samples(stream))
            row[stream.stem] = r
        results[str(model)] = row
        print(f"| {model} | {100 * row['val_split']:.2f}% | "
              + " | ".join(cell(s.stem, row[s.stem]) for s in streams) + " |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
