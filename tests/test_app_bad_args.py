"""``r2etl-viewer`` given unusable input on its command line, as a user runs it (a subprocess,
offscreen, with --screenshot/--quit-after so a mistake could not leave a window open): exit 2,
one line on stderr, no traceback, and before any window (an unwritable screenshot included)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 120  # imports (torch, Qt) on a busy 2-core machine; each case then fails at once


def run_viewer(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    shot = [] if "--screenshot" in args else ["--screenshot", str(tmp_path / "never.png")]
    quit_after = [] if "--quit-after" in args else ["--quit-after", "2"]
    return subprocess.run([sys.executable, "-m", "app.main", *args, *shot, *quit_after], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=TIMEOUT_S)


def bad_model(tmp_path: Path) -> str:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"not a model at all")
    return str(path)


CASES = {
    "bad-file": (lambda d: [str(d / "missing.aedat4")], "missing.aedat4: file not found"),
    "bad-model": (lambda d: ["--model", bad_model(d)], "bad.safetensors: not a readable safetensors model"),
    "refused": (lambda d: ["--connect", "127.0.0.1:1"], "127.0.0.1:1: connection refused"),
    "speed-0": (lambda d: ["--speed", "0"], "argument --speed: must be between 0.1 and 10.0"),
    "quit-after-nan": (lambda d: ["--quit-after", "nan"], "argument --quit-after: must be between 0.1 and 86400"),
    "screenshot-folder": (lambda d: ["--screenshot", "/no/such/dir/x.png"],
                          "--screenshot /no/such/dir/x.png: folder /no/such/dir does not exist"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_argument_exits_2_with_one_line(case, tmp_path):
    make_args, expected = CASES[case]
    result = run_viewer(make_args(tmp_path), tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    assert lines[0].startswith("r2etl-viewer: error: ") and expected in lines[0]
    assert not (tmp_path / "never.png").exists()
