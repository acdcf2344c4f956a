"""docs/results.md from the transfer sweeps: accuracies, paired differences with confidence
intervals, cross-validation folds, variants and per-term diagnostics.

    python scripts/results_report.py          # tables from the sweeps already in runs/ (nothing trained)
    python scripts/results_report.py --run    # first run every sweep below that is not complete (resumable)

Every table prints the command that makes its rows (``scripts/run_experiment.py``: one torch
thread per run, AVX2 kernels pinned), so each number can be rebuilt from the committed code.
The text after ``HAND_MARK`` in docs/results.md is written by hand and kept as it is.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if not __package__:  # run as a file, not with -m: import this checkout's packages
    sys.path.insert(0, str(REPO))

HAND_MARK = "<!-- Everything below is written by hand (scripts/results_report.py keeps it). -->"
VAL_N = 204
MODES = ("r2etl", "joint-no-align", "events-only")
# two-sided 95% Student t quantiles by degrees of freedom
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


@dataclass(frozen=True)
class Sweep:
    out: str
    argv: tuple[str, ...]

    def command(self) -> str:
        return "python scripts/run_experiment.py " + " ".join(self.argv) + f" --out {self.out}"

    def rows(self) -> list[dict]:
        path = REPO / self.out / "results.jsonl"
        rows = [json.loads(ln) for ln in path.read_text().splitlines()] if path.exists() else []
        for r in rows:  # rows written before these fields existed
            r.setdefault("fold", 0)
            r.setdefault("val_correct", int(round(r["val_accuracy"] * VAL_N)))
        return rows


FIVE = ("--seeds", "0", "1", "2", "3", "4")
SWEEPS = {
    "main": Sweep("runs/exp5", ("--steps", "150", "--fractions", "0.1", "1.0", *FIVE, "--workers", "1")),
    "equal_compute": Sweep("runs/exp5-eqc", ("--steps", "300", "--fractions", "0.1", "1.0", *FIVE,
                                             "--modes", "events-only", "--workers", "1")),
    "folds": Sweep("runs/exp5-folds", ("--steps", "150", "--fractions", "1.0", "--seeds", "0", "1",
                                       "--folds", "1", "2", "3", "4", "--workers", "1")),
    "folds_equal_compute": Sweep("runs/exp5-folds-eqc", ("--steps", "300", "--fractions", "1.0", "--seeds", "0", "1",
                                                         "--folds", "1", "2", "3", "4", "--modes", "events-only",
                                                         "--workers", "1")),
    "diag": Sweep("runs/exp5-diag", ("--steps", "150", "--fractions", "1.0", "--seeds", "0", "--diag-every", "10",
                                     "--workers", "1")),
    "instance": Sweep("runs/exp5-instance", ("--steps", "150", "--fractions", "1.0", *FIVE, "--modes", "r2etl",
                                             "--pairing", "instance", "--workers", "1")),
    "kaiming": Sweep("runs/exp5-kaiming", ("--steps", "150", "--fractions", "1.0", *FIVE, "--modes", "r2etl",
                                           "--init-scheme", "kaiming", "--workers", "1")),
}


# ---------------------------------------------------------------- statistics

def mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its two-sided 95% t interval (nan with one value)."""
    v = np.asarray(values, float)
    if len(v) < 2:
        return float(v.mean()) if len(v) else math.nan, math.nan
    return float(v.mean()), T975.get(len(v) - 1, 1.96) * float(v.std(ddof=1)) / math.sqrt(len(v))


def acc_cell(values: list[float]) -> str:
    if not values:
        return "-"
    v = 100 * np.asarray(values)
    sd = f" ± {v.std(ddof=1):.1f}" if len(v) > 1 else ""
    return f"{v.mean():.1f}{sd} (n={len(v)})"


def diff_cell(diffs: list[float]) -> tuple[str, str]:
    """(per-pair differences, mean [95% CI]) in points."""
    if not diffs:
        return "-", "-"
    each = ", ".join(f"{100 * d:+.1f}" for d in diffs)
    m, h = mean_ci(diffs)
    ci = f"{100 * m:+.1f} [{100 * (m - h):+.1f}, {100 * (m + h):+.1f}]" if h == h else f"{100 * m:+.1f}"
    return each, ci


def by_key(rows: list[dict], key: str) -> dict:
    return {r[key]: r for r in rows}


def paired(a: list[dict], b: list[dict], key: str) -> list[float]:
    """Differences a - b of accuracy over the runs both have (matched by ``key``: seed or fold)."""
    ra, rb = by_key(a, key), by_key(b, key)
    return [ra[k]["val_accuracy"] - rb[k]["val_accuracy"] for k in sorted(set(ra) & set(rb))]


def select(rows: list[dict], **kw) -> list[dict]:
    return sorted([r for r in rows if all(r.get(k) == v for k, v in kw.items())],
                  key=lambda r: (r["seed"], r["fold"]))


# ---------------------------------------------------------------- sections

COMPARISONS = [("r2etl - joint-no-align (the alignment terms)", "r2etl", "main", "joint-no-align", "main"),
               ("r2etl - events-only, same steps", "r2etl", "main", "events-only", "main"),
               ("joint-no-align - events-only, same steps", "joint-no-align", "main", "events-only", "main"),
               ("r2etl - events-only, equal compute", "r2etl", "main", "events-only", "eqc"),
               ("joint-no-align - events-only, equal compute", "joint-no-align", "main", "events-only", "eqc")]


def comparison_diffs(main: list[dict], eqc: list[dict]) -> list[tuple[str, float, list[float]]]:
    """(comparison name, fraction, per-seed differences) for every comparison of section 1."""
    sets = {"main": main, "eqc": eqc}
    out = []
    for name, ma, ra, mb, rb in COMPARISONS:
        for f in sorted({r["fraction"] for r in main}):
            out.append((name, f, paired(select(sets[ra], mode=ma, fraction=f),
                                        select(sets[rb], mode=mb, fraction=f), "seed")))
    return out


def plot_differences(main: list[dict], eqc: list[dict], path: Path) -> None:
    """docs/results.png: each paired difference with its 95% interval (a forest plot)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = [(f"{name} @ {100 * f:.0f}%", d) for name, f, d in comparison_diffs(main, eqc) if d]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(items) + 1.2))
    for i, (label, d) in enumerate(items):
        m, h = mean_ci(d)
        y = len(items) - 1 - i
        ax.errorbar([100 * m], [y], xerr=[[100 * h if h == h else 0]], fmt="o", color="C0", capsize=3)
        ax.scatter(100 * np.asarray(d), [y] * len(d), s=10, color="grey", alpha=0.6, zorder=3)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(items)), [lab for lab, _ in reversed(items)], fontsize=8)
    ax.set_xlabel("paired difference in points (dots: seeds, bars: 95% CI)")
    ax.set_title("N-MNIST fixed split, 150 steps (equal compute: events-only 300)", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main_section(main: list[dict], eqc: list[dict]) -> str:
    fractions = sorted({r["fraction"] for r in main})
    n_train = {f: sorted({r["event_train"] for r in main if r["fraction"] == f}) for f in fractions}
    out = ["| event fraction (train samples) | r2etl | joint-no-align | events-only | events-only, 300 steps "
           "(equal compute) |", "|---|---|---|---|---|"]
    for f in fractions:
        cells = [acc_cell([r["val_accuracy"] for r in select(main, mode=m, fraction=f)]) for m in MODES]
        cells.append(acc_cell([r["val_accuracy"] for r in select(eqc, fraction=f)]))
        out.append(f"| {100 * f:.0f}% ({'/'.join(map(str, n_train[f]))}) | " + " | ".join(cells) + " |")
    out += ["", "Paired differences in points (same seed: same initialisation, data order and event "
            "samples), and the mean with its 95% t interval over seeds:", "",
            "| comparison | fraction | per seed | mean [95% CI] |", "|---|---|---|---|"]
    for name, f, diffs in comparison_diffs(main, eqc):
        each, ci = diff_cell(diffs)
        out.append(f"| {name} | {100 * f:.0f}% | {each} | {ci} |")
    return "\n".join(out) + "\n\n![paired differences with 95% intervals](results.png)\n"


FOLD_SEEDS = (0, 1)  # seeds per fold in section 2 (fold 0 takes the same seeds from section 1)


def fold_means(rows: list[dict]) -> dict[int, float]:
    """Fold -> mean accuracy over the fold's seeds (the seeds share the fold's validation samples,
    so a fold, not a run, is the unit of replication)."""
    out: dict[int, list[float]] = {}
    for r in rows:
        out.setdefault(r["fold"], []).append(r["val_accuracy"])
    return {k: float(np.mean(v)) for k, v in out.items()}


def folds_section(main: list[dict], folds: list[dict], folds_eqc: list[dict], eqc: list[dict]) -> str:
    def pick(rows):
        return [r for r in select(rows, fraction=1.0) if r["seed"] in FOLD_SEEDS]

    all_rows, eq_rows = pick(main) + pick(folds), pick(eqc) + pick(folds_eqc)
    cols = [(m, [r for r in all_rows if r["mode"] == m]) for m in MODES] + [("events-only, 300 steps", eq_rows)]
    folds_seen = sorted({r["fold"] for r in all_rows + eq_rows})
    out = ["| fold | " + " | ".join(name for name, _ in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for k in folds_seen:
        cells = []
        for _, rows in cols:
            accs = [f"{100 * r['val_accuracy']:.1f}" for r in rows if r["fold"] == k]
            cells.append(", ".join(accs) if accs else "-")
        out.append(f"| {k}{' (the fixed split)' if k == 0 else ''} | " + " | ".join(cells) + " |")
    pooled = []
    for _, rows in cols:
        correct, n = sum(r["val_correct"] for r in rows), sum(r.get("val_n", VAL_N) for r in rows)
        pooled.append(f"{100 * correct / n:.1f} ({correct}/{n})" if n else "-")
    out.append("| all folds pooled (each sample validated once per seed) | " + " | ".join(pooled) + " |")
    out += ["", "| comparison (paired by fold, seeds averaged within a fold) | per fold | mean [95% CI] over folds |",
            "|---|---|---|"]
    for name, a, b in [("r2etl - joint-no-align", cols[0][1], cols[1][1]),
                       ("r2etl - events-only, same steps", cols[0][1], cols[2][1]),
                       ("joint-no-align - events-only, same steps", cols[1][1], cols[2][1]),
                       ("r2etl - events-only, equal compute", cols[0][1], cols[3][1])]:
        ma, mb = fold_means(a), fold_means(b)
        each, ci = diff_cell([ma[k] - mb[k] for k in sorted(set(ma) & set(mb))])
        out.append(f"| {name} | {each} | {ci} |")
    return "\n".join(out) + "\n"


def variants_section(main: list[dict], instance: list[dict], kaiming: list[dict]) -> str:
    base = select(main, mode="r2etl", fraction=1.0)
    jna = select(main, mode="joint-no-align", fraction=1.0)
    out = ["| run (100% of the events, 150 steps) | accuracy, mean ± sd |", "|---|---|",
           f"| r2etl, class pairs, default init (the main table) | {acc_cell([r['val_accuracy'] for r in base])} |",
           f"| r2etl, instance pairs | {acc_cell([r['val_accuracy'] for r in instance])} |",
           f"| r2etl, the authors' init (Kaiming normal, fan-out) | {acc_cell([r['val_accuracy'] for r in kaiming])} |",
           "", "| comparison (paired by seed) | per seed | mean [95% CI] |", "|---|---|---|"]
    for name, a, b in [("instance pairs - class pairs (r2etl)", instance, base),
                       ("r2etl with instance pairs - joint-no-align", instance, jna),
                       ("Kaiming init - default init (r2etl)", kaiming, base)]:
        each, ci = diff_cell(paired(a, b, "seed"))
        out.append(f"| {name} | {each} | {ci} |")
    return "\n".join(out) + "\n"


def diag_section(diag: list[dict]) -> str:
    """Per mode: EAM/FAM (1 - CKA, 1 - TCKA) early and late, and each trained term's gradient share."""
    out = ["| mode | EAM (1-CKA) steps 0-40 -> 110-150 | FAM (1-TCKA) steps 0-40 -> 110-150 | gradient share "
           "on the trunk, mean over the run |", "|---|---|---|---|"]
    for m in MODES:
        rows = [r for r in diag if r["mode"] == m]
        if not rows:
            continue
        path = REPO / rows[0].get("run_dir", "") / "steps.jsonl"
        if not path.exists():
            continue
        steps = [json.loads(ln) for ln in path.read_text().splitlines()]
        d = [s for s in steps if any(k.startswith("grad_share_") for k in s)]
        early = [s for s in d if s["step"] <= 40]
        late = [s for s in d if s["step"] >= 110]

        def avg(sel, key):
            v = [s[key] for s in sel if key in s]
            return f"{np.mean(v):.3f}" if v else "-"
        shares = sorted({k for s in d for k in s if k.startswith("grad_share_")})
        share_text = ", ".join(f"{k[len('grad_share_'):]} {100 * np.mean([s[k] for s in d if k in s]):.1f}%"
                               for k in shares)
        out.append(f"| {m} | {avg(early, 'eam')} -> {avg(late, 'eam')} | {avg(early, 'fam')} -> {avg(late, 'fam')} "
                   f"| {share_text} |")
    return "\n".join(out) + "\n"


def wall_line(main: list[dict], eqc: list[dict]) -> str:
    def med(rows, **kw):
        v = [r["wall_s"] for r in select(rows, **kw)]
        return float(np.median(v)) if v else math.nan
    r2, eo, eo3 = med(main, mode="r2etl"), med(main, mode="events-only"), med(eqc)
    return (f"Median run time: r2etl {r2:.0f} s, joint-no-align {med(main, mode='joint-no-align'):.0f} s, "
            f"events-only {eo:.0f} s at 150 steps and {eo3:.0f} s at 300 steps (one thread each, two runs "
            f"sharing the 2 cores): a joint step costs {r2 / eo:.1f}x an events-only step, so events-only "
            f"with 300 steps is the equal-compute baseline.")


def shipped_model_line() -> str:
    from r2etl_core.io.modelfile import DEFAULT_MODEL_PATH, read_meta

    if not DEFAULT_MODEL_PATH.exists():
        return "The shipped model file is not present in this checkout."
    meta = read_meta(DEFAULT_MODEL_PATH)
    m, t = meta.metrics, meta.training
    cfg = t.get("config", {}).get("data", {})
    extras = []
    if cfg.get("augment_noise_hz"):
        extras.append(f"background noise up to {cfg['augment_noise_hz']:g} Hz/pixel")
    if cfg.get("augment_offset"):
        extras.append(f"{100 * cfg['augment_offset']:.0f}% of windows at random phases")
    return (f"Shipped default model (`r2etl_core/models/nmnist-r2etl.safetensors`, mode {t.get('mode')}, "
            f"width {meta.config.width}, {meta.config.input_size}x{meta.config.input_size}, "
            f"T={meta.config.time_steps}, "
            f"time slicing {meta.slicing.slice_us} us{', ' + ', '.join(extras) if extras else ''}): validation "
            f"accuracy **{100 * m.get('val_accuracy', float('nan')):.2f}%** on the {m.get('val_n', '?')} held-out "
            f"samples at optimiser step {m.get('step', '?')} of {t.get('steps', '?')}. Reproduce the number with "
            "`r2etl eval --data nmnist:../shared/data/nmnist/Train --split val`.")


def machine(rows: list[dict]) -> str:
    caps = sorted({r.get("cpu_capability", "?") for r in rows})
    torch_v = sorted({r.get("torch", "?") for r in rows})
    return f"torch {', '.join(torch_v)}, CPU kernels {', '.join(caps)}, 1 thread per run"


def build(out_path: Path, rows: dict[str, list[dict]]) -> str:
    cmd = {k: f"`{s.command()}`" for k, s in SWEEPS.items()}
    hand = ""
    if out_path.exists() and HAND_MARK in out_path.read_text():
        hand = out_path.read_text().split(HAND_MARK, 1)[1]
    every = [r for v in rows.values() for r in v]
    return f"""# Transfer experiment on the real data in ../shared/data

Written by `python scripts/results_report.py` from the sweeps' rows in `runs/` (not committed;
`python scripts/results_report.py --run` makes any that are missing: about 4.4 h of one CPU core,
the sum of the rows' run times).

## Shipped model
{shipped_model_line()}

## Setup (every table)
- Events: the 1,000 real N-MNIST samples in `../shared/data/nmnist/Train`. The fixed split: per class,
  sorted names, index % 5 == 0 is validation (204 samples), the rest training (796). Cross-validation fold k
  takes index % 5 == k instead (fold 0 is the fixed split; the five folds validate every sample once). A
  fraction f of the training events is drawn per class with the run's seed.
- Images: `mnist3750.npz` minus the MNIST images recorded by the validation samples of the fold; all used.
- Network: the R2ETL spiking VGG at width 1/8, 34x34 input, T = 10 slices of 30 ms from t = 0.
- Training: config `shared-nmnist`, Adam lr 1e-3, cosine schedule, batch 32, shift augmentation, no
  flip; **the same number of optimiser steps for every mode** unless a column says otherwise (events-only sees
  32 event samples a step, the joint modes 32 image + 32 event samples). Accuracy: the event branch, at
  the last step (no selection on validation data).
- Reproducibility: {machine(every)}; `run_experiment.py` pins the AVX2 kernels
  (`ATEN_CPU_CAPABILITY=avx2`, `ONEDNN_MAX_CPU_ISA=AVX2`) before torch loads, because the rounding of a
  spiking net's threshold crossings depends on the kernels and 150 steps amplify it into points (one cell
  gave 52.9% with AVX-512 kernels and 54.9% with AVX2 on the same machine; 57.4% on the machine of the
  first sweep). With the pin, a rerun gives the same losses bit for bit (`tests/test_experiment_repro.py`).
  What is not pinned: the torch version and the CPU vendor's AVX2 code paths.
- One validation sample is 0.49 points; at 90% the binomial standard error of one run is about 2 points.

## 1. Fixed split, 5 seeds, 150 steps
Rows: {cmd['main']} and, for the equal-compute column, {cmd['equal_compute']}.

Validation accuracy in %, mean ± sd over seeds:

{main_section(rows['main'], rows['equal_compute'])}
{wall_line(rows['main'], rows['equal_compute'])}

## 2. Cross-validation: five folds, 100% of the events, seeds 0 and 1
Rows: fold 0 from section 1 (its seeds 0 and 1); folds 1-4 from {cmd['folds']} and
{cmd['folds_equal_compute']}. A cell lists seed 0, seed 1. The two seeds of a fold share its
validation samples, so they are averaged within the fold and the interval is over the five folds.

{folds_section(rows['main'], rows['folds'], rows['folds_equal_compute'], rows['equal_compute'])}
## 3. Instance pairs and the authors' initialisation
Rows: {cmd['instance']} and {cmd['kaiming']}; the baseline is section 1's r2etl at 100%.

{variants_section(rows['main'], rows['instance'], rows['kaiming'])}
## 4. What each term does: alignment values and gradient shares
Rows: {cmd['diag']} (each run's `steps.jsonl`; EAM/FAM are computed, not trained, in
joint-no-align and events-only, on the same kind of image batches).

{diag_section(rows['diag'])}
{HAND_MARK}{hand}"""


def run_missing() -> None:
    from scripts import run_experiment

    for sweep in SWEEPS.values():
        run_experiment.main([*sweep.argv, "--out", sweep.out, "--docs", str(Path(sweep.out) / "docs")])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", action="store_true", help="first run every sweep that is not complete")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "results.md")
    args = ap.parse_args(argv)
    if args.run:
        run_missing()
    rows = {k: s.rows() for k, s in SWEEPS.items()}
    args.out.write_text(build(args.out, rows))
    plot_differences(rows["main"], rows["equal_compute"], args.out.with_name("results.png"))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
