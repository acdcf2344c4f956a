"""Teaching new classes with few labelled clips: R2ETL with an image folder vs events-only fine-tuning.

    python scripts/own_classes_experiment.py [--shared ../shared/data] [--out runs/own-classes]
        [--clips 5 10 20] [--seeds 0 1 2] [--steps 50] [--modes r2etl events-only]

The stand-in for a lab's own data (scripts/standin.py): N-MNIST VALIDATION
samples regrouped into three classes the shipped model does not have (straight {1,4,7},
round {0,6,8,9}, curvy {2,3,5}), each clip one sample held 0.6-1.2 s with 1 Hz/pixel noise,
three clips per .aedat4 recording with its labels sidecar; MNIST images (never the source of
an N-MNIST sample here) as an image folder of the same three classes.

For every (clips per class, seed) a training set is drawn from the clips not in the fixed test
set (25 clips per class, the same for all runs), and each mode fine-tunes the shipped model
(``--init``: trunk reused, new 3-class classifier) for the same number of steps, with the same
clips and seed, through the real CLI. The test recordings are scored once, at the last step
(``run.eval_every = steps``): no checkpoint is chosen on them. Results go to OUT/results.json
and OUT/results.md; runs already done are skipped (re-run to resume).
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

from r2etl_core.io.modelfile import DEFAULT_MODEL_PATH, read_meta  # noqa: E402
from scripts.standin import (  # noqa: E402
    choose_clips,
    clips_by_class,
    write_clip_recordings,
    write_image_folder,
)

TEST_CLIPS = 25  # per class: curvy has 58 validation samples, so 20 training + 25 test fit
IMAGES_PER_CLASS = 300
CLIPS_PER_RECORDING = 3


def build_data(shared: Path, out: Path, clips: list[int], seeds: list[int]) -> None:
    """The test recordings, the image folder and one training folder per (clips, seed)."""
    root = shared / "nmnist" / "Train"
    by_class = clips_by_class(root)
    if not (out / "images").is_dir():
        write_image_folder(shared / "mnist" / "mnist3750.npz", out / "images", IMAGES_PER_CLASS)
    for n in clips:
        for seed in seeds:
            train, test = choose_clips(by_class, n, TEST_CLIPS, seed)
            if not (out / "test").is_dir():
                write_clip_recordings(out / "test", test, root, CLIPS_PER_RECORDING, 10_000, "test")
            folder = out / f"train-{n}-s{seed}"
            if not folder.is_dir():
                write_clip_recordings(folder, train, root, CLIPS_PER_RECORDING, seed, f"clip{n}s{seed}")


def command(out: Path, n: int, seed: int, mode: str, steps: int) -> list[str]:
    """The exact ``r2etl train`` command of one run (as docs/results.md shows it)."""
    return ["r2etl", "train", "--data", f"aedat4:{out}/train-{n}-s{seed}", "--val-dir", f"{out}/test",
            "--images", f"imagefolder:{out}/images", "--init", str(DEFAULT_MODEL_PATH.relative_to(REPO)),
            "--mode", mode, "--steps", str(steps), "--seed", str(seed), "--out", f"{out}/run-{mode}-{n}-s{seed}",
            "--set", f"run.eval_every={steps}", "--set", "run.threads=1", "--set", f'data.cache_dir="{out}/cache"',
            "--no-progress"]


def run_one(out: Path, n: int, seed: int, mode: str, steps: int) -> dict:
    run_dir = out / f"run-{mode}-{n}-s{seed}"
    last = run_dir / "last.safetensors"
    if not (last.exists() and read_meta(last).training.get("steps_done") == steps):
        cmd = command(out, n, seed, mode, steps)
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-m", "r2etl_core.cli.main", *cmd[1:]], cwd=REPO, check=True,
                       stdout=subprocess.DEVNULL)
        print(f"{mode} clips={n} seed={seed}: {time.monotonic() - t0:.0f} s", flush=True)
    meta = read_meta(last)
    return {"mode": mode, "clips": n, "seed": seed, "steps": steps, "accuracy": meta.metrics["val_accuracy"],
            "n_test_windows": meta.metrics["val_n"], "train_windows": meta.training["data"]["event_train"],
            "train_seconds": meta.metrics["train_seconds"]}


def table(results: list[dict], modes: list[str], clips: list[int]) -> str:
    """Markdown: test accuracy in %, mean [min, max] over seeds, and the paired difference."""
    head = "| clips per class | " + " | ".join(modes) + " | difference (first - second), per seed |"
    lines = [head, "|" + "---|" * (len(modes) + 2)]
    for n in clips:
        cells, per_mode = [], {}
        for mode in modes:
            accs = {r["seed"]: 100 * r["accuracy"] for r in results if r["mode"] == mode and r["clips"] == n}
            per_mode[mode] = accs
            v = list(accs.values())
            cells.append(f"{statistics.mean(v):.1f} [{min(v):.1f}, {max(v):.1f}]" if v else "-")
        diff = "-"
        if len(modes) >= 2:
            a, b = per_mode[modes[0]], per_mode[modes[1]]
            d = [a[s] - b[s] for s in sorted(a) if s in b]
            diff = f"{statistics.mean(d):+.1f} ({', '.join(f'{x:+.1f}' for x in d)})" if d else "-"
        lines.append(f"| {n} | " + " | ".join(cells) + f" | {diff} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--out", default="runs/own-classes", help="relative to the repository root")
    ap.add_argument("--clips", type=int, nargs="+", default=[5, 10, 20])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--modes", nargs="+", default=["r2etl", "events-only"])
    args = ap.parse_args(argv)
    shared = Path(args.shared).resolve()
    os.chdir(REPO)  # the commands (and docs/results.md) use paths relative to the repository
    out = Path(args.out)
    build_data(shared, out, args.clips, args.seeds)
    results = []
    for n in args.clips:
        for seed in args.seeds:
            for mode in args.modes:
                results.append(run_one(out, n, seed, mode, args.steps))
                (out / "results.json").write_text(json.dumps(results, indent=1))
    text = table(results, args.modes, args.clips)
    (out / "results.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
