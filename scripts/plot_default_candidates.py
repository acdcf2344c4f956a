"""Plot the validation curves of the fixed-schedule candidates for the default model.

    python scripts/plot_default_candidates.py [--out docs/default-candidates.png] [RUN_DIR ...]
    python scripts/plot_default_candidates.py --loss-steps 1601 2000 runs/wide-s0 runs/wide-s1

Reads each run's metrics.csv (written by `r2etl train`) and draws the validation accuracy of
the model file (the weight average when the run used one) at every evaluation, the last step
marked: the checkpoint a fixed schedule ships. Horizontal lines: the 98% target and the current
default's score. With --loss-steps A B it draws nothing and prints each run's mean training loss
over steps A..B (steps.jsonl): the pre-registered way to pick a candidate without validation
data. Defaults: the four runs of docs/results.md (shared-nmnist-ema and
shared-nmnist-wide, seeds 0 and 1).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if not __package__:  # run as a file, not with -m: import this checkout's packages
    sys.path.insert(0, str(REPO))

RUNS = ("runs/ema-s0", "runs/ema-s1", "runs/wide-s0", "runs/wide-s1")
LABELS = {"ema-s0": "width 0.125, 3600 steps, seed 0", "ema-s1": "width 0.125, 3600 steps, seed 1",
          "wide-s0": "width 0.25, 2000 steps, seed 0", "wide-s1": "width 0.25, 2000 steps, seed 1"}


def read_curve(run: Path) -> tuple[list[int], list[float]]:
    path = run / "metrics.csv"
    if not path.is_file():
        raise SystemExit(f"{path}: no metrics.csv (train the run first, see docs/results.md)")
    with path.open() as f:
        rows = [r for r in csv.DictReader(f) if r.get("val_accuracy")]
    return [int(r["step"]) for r in rows], [100 * float(r["val_accuracy"]) for r in rows]


def mean_training_loss(run: Path, first: int, last: int) -> float:
    path = run / "steps.jsonl"
    if not path.is_file():
        raise SystemExit(f"{path}: no steps.jsonl (train the run first, see docs/results.md)")
    losses = [row["loss"] for row in map(json.loads, path.read_text().splitlines())
              if first <= row["step"] <= last]
    if len(losses) != last - first + 1:
        raise SystemExit(f"{path}: has {len(losses)} of the {last - first + 1} steps {first}-{last}")
    return sum(losses) / len(losses)


def shipped_accuracy() -> float:
    """The shipped default model's validation-split score, %, from its metadata."""
    from r2etl_core.io.modelfile import DEFAULT_MODEL_PATH, read_meta

    return 100 * read_meta(DEFAULT_MODEL_PATH).metrics["val_accuracy"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="*", default=list(RUNS), help="run folders holding metrics.csv")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "default-candidates.png")
    ap.add_argument("--default-accuracy", type=float,
                    help="the current default's score, %% (default: read from the shipped model file)")
    ap.add_argument("--loss-steps", type=int, nargs=2, metavar=("A", "B"),
                    help="print each run's mean training loss over steps A..B instead of plotting")
    args = ap.parse_args(argv)
    runs = [(Path(r), Path(r) if Path(r).is_absolute() else REPO / r) for r in args.runs]  # (as given, on disk)
    if args.loss_steps:
        first, last = args.loss_steps
        for given, run in runs:
            print(f"{given}: mean training loss over steps {first}-{last}: {mean_training_loss(run, first, last):.4f}")
        return 0
    default_acc = args.default_accuracy if args.default_accuracy is not None else shipped_accuracy()

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for given, run in runs:
        steps, acc = read_curve(run)
        line, = ax.plot(steps, acc, marker=".", label=LABELS.get(given.name, given.name),
                        linestyle="-" if "wide" in given.name else "--")
        ax.plot(steps[-1:], acc[-1:], marker="o", markersize=9, color=line.get_color(), fillstyle="none")
    ax.axhline(98.0, color="black", linewidth=0.8)
    ax.text(ax.get_xlim()[0], 98.05, " 98% target", va="bottom", fontsize=8)
    ax.axhline(default_acc, color="grey", linewidth=0.8, linestyle=":")
    ax.text(ax.get_xlim()[0], default_acc - 0.05, f" current default {default_acc:.2f}%",
            va="top", fontsize=8, color="grey")
    ax.set_ylim(89, 99)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("validation split accuracy, % (204 samples)")
    ax.set_title("Fixed-schedule candidates: the circled last step is what would ship")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
