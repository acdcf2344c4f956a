"""A cell of docs/results.md must give the same number when a new user reruns its command."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
