"""One sweep of the real-data transfer experiment: R2ETL vs joint-no-align vs events-only at
fractions of the N-MNIST training events, same network, same optimiser steps, several seeds and
validation folds (r2etl_core/train/datasets/splits.py). Rows go to OUT/results.jsonl, a summary
table to OUT/summary.md; docs/results.md is written from several sweeps by results_report.py.

    python scripts/run_experiment.py --steps 20 --fractions 0.1 --seeds 0 --out runs/exp-smoke
    python scripts/results_report.py --run           # every sweep in docs/results.md (`make experiment`)

Runs already in OUT/results.jsonl are skipped, so an interrupted sweep continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

if not __package__:  # run as a file, not with -m: import this checkout's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[1]
MODES = ("r2etl", "events-only", "joint-no-align")
# Pinned before torch loads in the workers: the same kernels (AVX2) on any x86 CPU, so a cell
# gives the same number on an AVX-512 Xeon as on the AMD EPYC the sweep was recorded on.
NUMERICS_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2",
                "OMP_NUM_THREADS": "1"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="shared-nmnist", help="base training config")
    p.add_argument("--steps", type=int, default=150, help="optimiser steps per run (same for every mode)")
    p.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.25, 0.5, 1.0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--modes", nargs="+", default=list(MODES))
    p.add_argument("--workers", type=int, default=2, help="runs in parallel, one CPU thread each")
    p.add_argument("--folds", type=int, nargs="+", default=[0],
                   help="validation folds of the 1,000 samples (0-4; fold 0 is the fixed split)")
    p.add_argument("--pairing", default="class", choices=("class", "instance"),
                   help="class: an image of the same class; instance: the image the sample was recorded from")
    p.add_argument("--init-scheme", default="default", choices=("default", "kaiming"),
                   help="the network's initialisation (kaiming = the authors')")
    p.add_argument("--diag-every", type=int, default=0,
                   help="log each loss term's gradient share and EAM/FAM every N steps (in each run's "
                        "steps.jsonl; costs a few extra backward passes on those steps, training is unchanged)")
    p.add_argument("--out", default="runs/experiment")
    p.add_argument("--docs", default=None, help="where summary.md goes (default: OUT)")
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: write the summary from the runs already in OUT/results.jsonl")
    return p.parse_args(argv)


VARIANT_DEFAULTS = {"fold": 0, "pairing": "class", "init_scheme": "default"}


def cell_key(row: dict) -> tuple:
    """What identifies a run; rows written before folds/pairing/init existed have the defaults."""
    return (row["mode"], row["fraction"], row["seed"], row["steps"],
            *(row.get(k, v) for k, v in VARIANT_DEFAULTS.items()))


def run_one(config: str, mode: str, fraction: float, seed: int, steps: int, out: str, fold: int = 0,
            pairing: str = "class", init_scheme: str = "default", diag_every: int = 0) -> dict:
    import torch

    torch.set_num_threads(1)
    from r2etl_core.train.config_file import load_config
    from r2etl_core.train.run import train

    overrides = [f'loss.mode="{mode}"', f"data.event_fraction={fraction}", f"data.subset_seed={seed}",
                 f"run.seed={seed}", f"optim.steps={steps}", f"run.eval_every={steps}", f'run.out_dir="{out}"',
                 'run.export=""', "run.threads=1", "run.progress=false", f"data.val_fold={fold}",
                 f'data.pairing="{pairing}"', f'model.init_scheme="{init_scheme}"', f"run.diag_every={diag_every}"]
    t0 = time.monotonic()
    trainer, _ = train(load_config(config, overrides), "scripts/run_experiment.py")
    return {"mode": mode, "fraction": fraction, "seed": seed, "steps": trainer.state.step,
            "fold": fold, "pairing": pairing, "init_scheme": init_scheme, "run_dir": out,
            "val_correct": int(round(trainer.state.history[-1]["val_accuracy"] * len(trainer.val))),
            "val_n": len(trainer.val),
            "val_accuracy": trainer.state.history[-1]["val_accuracy"], "wall_s": round(time.monotonic() - t0, 1),
            "event_train": len(trainer.loader.dataset.frames) if mode == "events-only"
            else int(len(set(trainer.loader.dataset.pairs[:, 1].tolist()))), **provenance(torch)}


def provenance(torch) -> dict:
    """What a cell needs to give the same number again: the float rounding of a spiking net's
    threshold crossings depends on the kernels torch picks (thread count, CPU instruction set),
    and 150 steps amplify it into points of accuracy (docs/results.md, "Reproducing a cell")."""
    return {"torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "numerics_env": {k: os.environ.get(k, "") for k in NUMERICS_ENV}, "commit": git_commit()}


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True,
                             text=True, timeout=10)
    except OSError:
        return ""
    return out.stdout.strip()


def run_name(mode: str, fraction: float, seed: int, fold: int, args: argparse.Namespace) -> str:
    name = f"{mode}-f{fraction}-s{seed}-n{args.steps}"
    name += f"-fold{fold}" if fold else ""
    name += "-instance" if args.pairing == "instance" else ""
    return name + ("-kaiming" if args.init_scheme == "kaiming" else "")


def load_done(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def sweep(args: argparse.Namespace) -> tuple[list[dict], float]:
    out = REPO / args.out
    out.mkdir(parents=True, exist_ok=True)
    results_file = out / "results.jsonl"
    done = load_done(results_file)
    have = {cell_key(r) for r in done}
    variant = (args.pairing, args.init_scheme)
    todo = [(m, f, s, k) for k in args.folds for s in args.seeds for f in args.fractions for m in args.modes
            if (m, f, s, args.steps, k, *variant) not in have and not args.report_only]
    t0 = time.monotonic()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = {pool.submit(run_one, args.config, m, f, s, args.steps, str(out / run_name(m, f, s, k, args)),
                               k, *variant, args.diag_every): (m, f, s) for m, f, s, k in todo}
        for fut in as_completed(futures):
            row = fut.result()
            done.append(row)
            with open(results_file, "a") as fh:
                fh.write(json.dumps(row) + "\n")
            print(f"[{time.monotonic() - t0:7.0f}s] {row['mode']:>15} fraction {row['fraction']:.2f} "
                  f"seed {row['seed']} fold {row['fold']}: val {row['val_accuracy']:.4f} ({row['wall_s']:.0f}s)",
                  flush=True)
    rows = [r for r in done if r["steps"] == args.steps and r["mode"] in args.modes
            and r["fraction"] in args.fractions and r["seed"] in args.seeds
            and r.get("fold", 0) in args.folds and cell_key(r)[5:] == variant]
    return rows, time.monotonic() - t0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.chdir(REPO)  # the configs' data paths are relative to the repository root
    for key, value in NUMERICS_ENV.items():  # before any worker imports torch; a user's own value wins
        os.environ.setdefault(key, value)
    rows, wall = sweep(args)
    docs = REPO / (args.docs or args.out)
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "summary.md").write_text(summary(rows, args, wall))
    print(f"wrote {docs / 'summary.md'} ({wall / 60:.1f} min)")
    return 0


def summary(rows: list[dict], args: argparse.Namespace, wall_s: float) -> str:
    """Mean [min, max] validation accuracy per mode and fraction over the sweep's seeds and folds."""
    lines = [f"# Sweep {args.out}: {args.steps} steps, folds {args.folds}, pairing {args.pairing}, "
             f"init {args.init_scheme}", "", f"Machine: {machine()}; {wall_s / 60:.1f} min of wall time.", "",
             "| fraction | " + " | ".join(args.modes) + " |", "|---" * (len(args.modes) + 1) + "|"]
    for f in sorted(args.fractions):
        cells = []
        for m in args.modes:
            acc = [100 * r["val_accuracy"] for r in rows if r["mode"] == m and r["fraction"] == f]
            cells.append(f"{sum(acc) / len(acc):.1f} [{min(acc):.1f}, {max(acc):.1f}] (n={len(acc)})" if acc else "-")
        lines.append(f"| {f:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def machine() -> str:
    cpu = platform.machine()
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    torch_version = __import__("torch").__version__
    return f"{cpu}, {os.cpu_count()} CPU cores, torch {torch_version}, Python {platform.python_version()}"


if __name__ == "__main__":
    sys.exit(main())
