"""DAVIS frames as R2ETL's image side vs events-only, on labelled recordings that hold frames.

    python scripts/frames_experiment.py [--out runs/frames] [--recordings 2] [--seeds 0 1 2]
        [--steps 150] [--arms events-only frames-instance frames-class]

The data (scripts/make_frames_standin.py): moving shapes (disc, square, triangle, cross) over a
static textured background, rendered into events and 25 Hz grey frames of a 128x96 sensor; every
recording shows each shape once for 1.2-1.8 s. A fixed test folder (6 recordings, seeds apart
from any training set) is scored by every run; each seed draws its own ``--recordings``
training recordings. The real DAVIS346 files in ../shared are too short (0.13-2.4 s, no
classes) to label and hold out whole recordings from, so they are not used here.

Arms, each fine-tuning the shipped model (``--init``: trunk reused, new 4-class classifier)
for the same steps, batch, seed and recordings through the real CLI:
- ``events-only``: the events alone (``--mode events-only``);
- ``frames-instance``: R2ETL with ``--images aedat4-frames:<the training folder>``, each window
  paired with the frame nearest its middle in its own segment (what the CLI picks);
- ``frames-class``: the same frames, paired by class only (``--set data.pairing="class"``).
The test recordings are scored once, on the last weights (no checkpoint chosen on them), on
non-overlapping windows, per class. Results: OUT/results-<recordings>.json and .md, and the table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if not __package__:  # run as a file, not with -m: import this checkout's packages
    sys.path.insert(0, str(REPO))

from scripts.make_frames_standin import SHAPES, write_shape_recordings  # noqa: E402

from r2etl_core.io.modelfile import DEFAULT_MODEL_PATH, load_model, read_meta  # noqa: E402

TEST_RECORDINGS = 6
TEST_SEED = 10_000
ARMS = {
    "events-only": ["--mode", "events-only"],
    "frames-instance": ["--images", "aedat4-frames:{train}"],
    "frames-class": ["--images", "aedat4-frames:{train}", "--set", 'data.pairing="class"'],
}


def build_data(out: Path, recordings: int, seeds: list[int]) -> None:
    if not (out / "test").is_dir():
        write_shape_recordings(out / "test", TEST_RECORDINGS, TEST_SEED, "test")
    for seed in seeds:
        folder = out / f"train-{recordings}-s{seed}"
        if not folder.is_dir():
            write_shape_recordings(folder, recordings, seed, "take")


def command(out: Path, recordings: int, seed: int, arm: str, steps: int, batch: int) -> list[str]:
    train = out / f"train-{recordings}-s{seed}"
    extra = [a.format(train=train) for a in ARMS[arm]]
    return ["r2etl", "train", "--data", f"aedat4:{train}", "--val-dir", f"{out}/test", *extra,
            "--init", str(DEFAULT_MODEL_PATH.relative_to(REPO)), "--steps", str(steps), "--batch-size", str(batch),
            "--seed", str(seed), "--out", f"{out}/run-{arm}-{recordings}-s{seed}",
            "--set", f"run.eval_every={steps}", "--set", "run.threads=1", "--set", "data.window_stride_slices=1",
            "--set", f'data.cache_dir="{out}/cache"', "--no-progress"]


def per_class(out: Path, model_path: Path) -> dict:
    """Accuracy per class on the test recordings' non-overlapping windows (the last weights)."""
    from r2etl_core.train.datasets.recording_sets import eval_windows
    from r2etl_core.train.datasets.recordings import scan_recordings
    from r2etl_core.train.evaluate import evaluate

    model, meta = load_model(model_path, "cpu")
    windows = eval_windows(scan_recordings(out / "test"), meta, model_path, "all", str(out / "cache"))
    result = evaluate(model, windows.frames, windows.labels, meta.class_names, 64, "cpu")
    return {"accuracy": result.accuracy, "n": result.n,
            "per_class": {name: acc for name, acc in zip(meta.class_names, result.per_class)}}


def run_one(out: Path, recordings: int, seed: int, arm: str, steps: int, batch: int) -> dict:
    run_dir = out / f"run-{arm}-{recordings}-s{seed}"
    last = run_dir / "last.safetensors"
    if not (last.exists() and read_meta(last).training.get("steps_done") == steps):
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-m", "r2etl_core.cli.main",
                        *command(out, recordings, seed, arm, steps, batch)[1:]],
                       cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        print(f"{arm} recordings={recordings} seed={seed}: {time.monotonic() - t0:.0f} s", flush=True)
    meta = read_meta(last)
    return {"arm": arm, "recordings": recordings, "seed": seed, "steps": steps, "batch": batch,
            "train_windows": meta.training["data"]["event_train"],
            "train_frames": meta.training["data"].get("image_train", 0),
            "train_seconds": meta.metrics["train_seconds"], **per_class(out, last)}


def table(results: list[dict], arms: list[str]) -> str:
    """Markdown: test accuracy (%) per arm and seed, the mean, and per class the mean over seeds."""
    lines = ["| arm | seeds: accuracy % | mean | " + " | ".join(SHAPES) + " |",
             "|---|---|---|" + "---|" * len(SHAPES)]
    for arm in arms:
        rows = sorted((r for r in results if r["arm"] == arm), key=lambda r: r["seed"])
        if not rows:
            continue
        accs = [100 * r["accuracy"] for r in rows]
        cls = [statistics.mean(100 * r["per_class"][c] for r in rows) for c in SHAPES]
        per_seed = ", ".join(f"s{r['seed']} {a:.1f}" for r, a in zip(rows, accs))
        lines.append(f"| {arm} | {per_seed} | {statistics.mean(accs):.1f} | "
                     + " | ".join(f"{v:.1f}" for v in cls) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/frames", help="relative to the repository root")
    ap.add_argument("--recordings", type=int, default=2, help="training recordings per seed")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    args = ap.parse_args(argv)
    os.chdir(REPO)
    out = Path(args.out)
    build_data(out, args.recordings, args.seeds)
    results = []
    for seed in args.seeds:
        for arm in args.arms:
            results.append(run_one(out, args.recordings, seed, arm, args.steps, args.batch_size))
            (out / f"results-{args.recordings}.json").write_text(json.dumps(results, indent=1))
    text = table(results, args.arms)
    (out / f"results-{args.recordings}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
