"""A cell of docs/results.md must give the same number when a new user reruns its command."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import plot_default_candidates, results_report

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


@pytest.mark.skipif(not (SHARED / "nmnist" / "Train").is_dir(), reason="needs ../shared/data beside the checkout")
def test_two_short_runs_with_the_same_seed_give_the_same_accuracy(tmp_path):
    rows, losses = [], []
    for k in range(2):
        out = tmp_path / f"sweep{k}"
        cmd = [sys.executable, "scripts/run_experiment.py", "--steps", "6", "--fractions", "0.1", "--seeds", "3",
               "--modes", "r2etl", "--workers", "1", "--out", str(out), "--docs", str(tmp_path / f"docs{k}")]
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        rows.append(json.loads((out / "results.jsonl").read_text().splitlines()[0]))
        run_dir = next(p for p in out.iterdir() if p.is_dir() and p.name.startswith("r2etl"))
        losses.append([json.loads(ln)["loss"] for ln in (run_dir / "steps.jsonl").read_text().splitlines()])
    assert rows[0]["val_correct"] == rows[1]["val_correct"] and rows[0]["val_n"] == 204
    assert losses[0] == losses[1] and len(losses[0]) == 6  # bit for bit, step by step
    assert rows[0]["numerics_env"]["ATEN_CPU_CAPABILITY"] == "avx2" and rows[0]["threads"] == 1


def test_fold_comparisons_average_seeds_within_a_fold_before_the_interval():

    def row(mode, fold, seed, acc, steps=150):
        return {"mode": mode, "fold": fold, "seed": seed, "fraction": 1.0, "steps": steps,
                "val_accuracy": acc, "val_correct": round(acc * 200), "val_n": 200}

    # r2etl beats joint-no-align by 0.02 on every fold whatever the seed; seed 2 is not a fold seed
    main = [row("r2etl", 0, 0, 0.70), row("r2etl", 0, 1, 0.74), row("r2etl", 0, 2, 0.10),
            row("joint-no-align", 0, 0, 0.69), row("joint-no-align", 0, 1, 0.71),
            row("events-only", 0, 0, 0.5), row("events-only", 0, 1, 0.5)]
    folds = [row(m, k, s, base + 0.01 * k + (0.02 if m == "r2etl" else 0) + 0.01 * s)
             for k in (1, 2) for s in (0, 1) for m, base in (("r2etl", 0.7), ("joint-no-align", 0.7),
                                                               ("events-only", 0.5))]
    text = results_report.folds_section(main, folds, [], [])
    line = next(ln for ln in text.splitlines() if ln.startswith("| r2etl - joint-no-align"))
    assert "+2.0, +2.0, +2.0" in line and "+2.0 [+2.0, +2.0]" in line
    assert "| 0 (the fixed split) | 70.0, 74.0 | 69.0, 71.0 |" in text  # seed 2 left out
    assert "| all folds pooled (each sample validated once per seed) | 73.3 (880/1200) |" in text


def test_candidate_plot_and_training_loss_rule(tmp_path, capsys):
    """scripts/plot_default_candidates.py: the pre-registered candidate rule (mean training loss
    over a step range, from steps.jsonl) and the curves figure, on two synthetic runs."""
    for name, scale in (("a", 1.0), ("b", 2.0)):
        run = tmp_path / name
        run.mkdir()
        run.joinpath("steps.jsonl").write_text(
            "".join(json.dumps({"step": s, "loss": scale * s}) + "\n" for s in range(1, 11)))
        run.joinpath("metrics.csv").write_text("step,val_accuracy\n5,0.95\n10,0.97\n")
    assert plot_default_candidates.mean_training_loss(tmp_path / "a", 7, 10) == pytest.approx(8.5)
    assert plot_default_candidates.main(["--loss-steps", "7", "10", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    assert capsys.readouterr().out.splitlines()[1].endswith("over steps 7-10: 17.0000")
    with pytest.raises(SystemExit, match="has 4 of the 5 steps 7-11"):
        plot_default_candidates.mean_training_loss(tmp_path / "a", 7, 11)
    out = tmp_path / "curves.png"
    assert plot_default_candidates.main(["--out", str(out), str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
