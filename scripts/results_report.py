"""Write docs/results.md and docs/results.png from the experiment's rows (used by run_experiment.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def summarize(rows: list[dict]) -> dict[tuple[str, float], tuple[float, float, float, int]]:
    """(mode, fraction) -> (mean, min, max, n seeds)."""
    out = {}
    for key in sorted({(r["mode"], r["fraction"]) for r in rows}):
        acc = np.array([r["val_accuracy"] for r in rows if (r["mode"], r["fraction"]) == key])
        out[key] = (float(acc.mean()), float(acc.min()), float(acc.max()), len(acc))
    return out


def table(stats: dict, modes: list[str], fractions: list[float], rows: list[dict]) -> str:
    events = {f: sorted({r["event_train"] for r in rows if r["fraction"] == f}) for f in fractions}
    head = "| event fraction (train samples) | " + " | ".join(modes) + " |\n"
    head += "|---|" + "---|" * len(modes) + "\n"
    for f in fractions:
        cells = []
        for m in modes:
            if (m, f) in stats:
                mean, lo, hi, n = stats[(m, f)]
                cells.append(f"{100 * mean:.1f} [{100 * lo:.1f}, {100 * hi:.1f}] (n={n})")
            else:
                cells.append("-")
        head += f"| {100 * f:.0f}% ({'/'.join(map(str, events[f]))}) | " + " | ".join(cells) + " |\n"
    return head


def plot(stats: dict, modes: list[str], fractions: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for m in modes:
        fs = [f for f in fractions if (m, f) in stats]
        mean = np.array([stats[(m, f)][0] for f in fs]) * 100
        lo = mean - np.array([stats[(m, f)][1] for f in fs]) * 100
        hi = np.array([stats[(m, f)][2] for f in fs]) * 100 - mean
        ax.errorbar([100 * f for f in fs], mean, yerr=[lo, hi], marker="o", capsize=3, label=m)
    ax.set(xscale="log", xlabel="% of N-MNIST training event samples used", ylabel="validation accuracy (%)",
           title="event-branch accuracy on the fixed validation split")
    ax.set_xticks([100 * f for f in fractions], [f"{100 * f:g}" for f in fractions])
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def shipped_model_line() -> str:
    from r2etl_core.io.modelfile import DEFAULT_MODEL_PATH, read_meta

    if not DEFAULT_MODEL_PATH.exists():
        return "The shipped model file is not present in this checkout."
    meta = read_meta(DEFAULT_MODEL_PATH)
    m, t = meta.metrics, meta.training
    return (f"Shipped default model (`r2etl_core/models/nmnist-r2etl.safetensors`, mode {t.get('mode')}, "
            f"width {meta.config.width}, {meta.config.input_size}x{meta.config.input_size}, T={meta.config.time_steps}, "
            f"time slicing {meta.slicing.slice_us} us): validation accuracy **{100 * m.get('val_accuracy', float('nan')):.2f}%** "
            f"on the {m.get('val_n', '?')} held-out samples, after {m.get('step', '?')} optimiser steps of batch 32 "
            "(pairs of image + event sample). Reproduce the number with "
            "`r2etl eval --data nmnist:../shared/data/nmnist/Train --split val`.")


def extra_section(out: Path) -> str:
    """Table of another sweep (e.g. a longer step budget on fewer settings)."""
    path = REPO / out / "results.jsonl"
    if not path.exists():
        return ""
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    modes = [m for m in ("r2etl", "events-only", "joint-no-align") if any(r["mode"] == m for r in rows)]
    fractions = sorted({r["fraction"] for r in rows})
    steps = sorted({r["steps"] for r in rows})
    seeds = sorted({r["seed"] for r in rows})
    cmd = (f"python scripts/run_experiment.py --steps {steps[0]} --fractions {' '.join(map(str, fractions))} "
           f"--seeds {' '.join(map(str, seeds))} --out {out}")
    return (f"\n### Longer budget: {', '.join(map(str, steps))} steps, seeds {', '.join(map(str, seeds))}\n\n"
            f"Command: `{cmd}` ({sum(r['wall_s'] for r in rows) / 60:.1f} min of run time, 2 in parallel).\n\n"
            + table(summarize(rows), modes, fractions, rows))


def write_report(rows: list[dict], args, wall_s: float, docs: Path, started: float, machine: str) -> None:
    docs.mkdir(parents=True, exist_ok=True)
    stats = summarize(rows)
    modes, fractions = list(args.modes), sorted(args.fractions)
    plot(stats, modes, fractions, docs / "results.png")
    cmd = (f"python scripts/run_experiment.py --steps {args.steps} --fractions {' '.join(map(str, args.fractions))} "
           f"--seeds {' '.join(map(str, args.seeds))} --workers {args.workers}")
    run_wall = sum(r["wall_s"] for r in rows)
    discussion = docs / "results-discussion.md"
    extra = "".join(extra_section(Path(o)) for o in getattr(args, "extra", []))
    text = f"""# Transfer experiment on the real data in ../shared/data

Generated by `scripts/run_experiment.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}.
Raw rows: `{args.out}/results.jsonl` (not committed; `runs/` is ignored).

## Shipped model
{shipped_model_line()}

## Setup
- Events: the 1,000 real N-MNIST samples in `../shared/data/nmnist/Train`, fixed split (per class, sorted
  names, every 5th = validation: 204 validation, 796 training samples). A fraction f of the training events
  is drawn per class with the run's seed.
- Images: `mnist3750.npz` minus the MNIST images recorded by validation samples (3,546 images), all used.
- Network: the R2ETL spiking VGG at width 1/8, 34x34 input, T = 10 time slices of 30 ms from t = 0.
- Training: config `{args.config}` with mode / fraction / seed overridden; Adam lr 1e-3, cosine schedule,
  batch 32, **{args.steps} optimiser steps for every run** (events-only sees 32 event samples per step, the
  joint modes 32 image + 32 event samples), shift augmentation, no flip. Accuracy is the event branch's, at the
  last step (no model selection on the validation split).
- Seeds: {', '.join(map(str, args.seeds))} (seed changes the initialisation, data order and which event samples are used).
- Machine: {machine}. No GPU this session: the full-width GPU run of the paper's configs was not done.
- Wall time: {wall_s / 60:.1f} min for the sweep ({run_wall / 60:.1f} min of run time summed over
  {len(rows)} runs, {args.workers} runs in parallel).

Command: `{cmd}` (`make experiment` runs the script with its defaults).

## Results: validation accuracy in %, mean [min, max] over seeds

{table(stats, modes, fractions, rows)}
![accuracy vs fraction of training events](results.png)
{extra}
## Discussion
{discussion.read_text().strip() if discussion.exists() else "(to be written)"}
"""
    (docs / "results.md").write_text(text)
    (docs / "results.json").write_text(json.dumps({"rows": rows, "steps": args.steps}, indent=1))
