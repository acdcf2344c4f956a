"""Teaching a model new classes from the recordings of a live session, without a terminal.

``labelled_material`` says how much labelled time (and how many training windows) each class
has in a set of recordings; ``TeachRun`` trains on them in a separate process (``r2etl train
--data aedat4:... --init MODEL``, sized from the data, one thread, lower priority so the live
model keeps a core), and is watched through the files the run writes (``run.json``,
``steps.jsonl``, ``metrics.csv``); ``cancel`` stops it. Every run stays in its own folder
under the runs folder; ``list_runs`` finds them with their scores.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from r2etl_core.io.labels import IDLE_LABEL, NEGATIVE_LABELS, labels_path_for, read_labels

NICE = 5  # the training process yields to the viewer and its model process
RUN_PREFIX = "teach-"


@dataclass(frozen=True)
class ClassMaterial:
    label: str
    seconds: float
    windows: int  # whole windows of T slices inside its segments
    recordings: int


def labelled_material(recordings: list[Path], slice_us: int, time_steps: int) -> list[ClassMaterial]:
    """Per class (not idle / unknown), its labelled seconds and whole windows in ``recordings``."""
    seconds: dict[str, float] = {}
    windows: dict[str, int] = {}
    where: dict[str, set[Path]] = {}
    for rec in recordings:
        sidecar = labels_path_for(rec)
        if sidecar is None:
            continue
        for seg in read_labels(sidecar):
            label = str(seg.label)
            if label == IDLE_LABEL or label in NEGATIVE_LABELS:
                continue
            span = seg.end_us - seg.start_us
            seconds[label] = seconds.get(label, 0.0) + span / 1e6
            windows[label] = windows.get(label, 0) + max(0, span // slice_us - time_steps + 1)
            where.setdefault(label, set()).add(rec)
    return [ClassMaterial(k, round(seconds[k], 2), windows[k], len(where[k])) for k in sorted(seconds)]


def stage_recordings(recordings: list[Path], folder: Path) -> Path:
    """A folder holding (links to) each recording and its labels sidecar: what ``--data`` reads."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, rec in enumerate(recordings):
        sidecar = labels_path_for(rec)
        if sidecar is None:
            continue
        stem = f"{k:03d}-{rec.stem}"
        for src, dst in ((rec, folder / f"{stem}{rec.suffix}"), (sidecar, folder / f"{stem}.labels.csv")):
            try:
                os.symlink(src.resolve(), dst)
            except OSError:  # no symlinks here (some file systems): a copy
                shutil.copyfile(src, dst)
    return folder


@dataclass
class Progress:
    step: int = 0
    total: int = 0
    elapsed_s: float = 0.0
    losses: list[tuple[int, float]] = field(default_factory=list)  # (step, loss)
    val: list[tuple[int, float]] = field(default_factory=list)  # (step, held-out accuracy)
    done: bool = False
    failed: str = ""  # why the run ended without a model ("" while running or after success)

    @property
    def eta_s(self) -> float | None:
        if not self.step or not self.total:
            return None
        return self.elapsed_s * max(0, self.total - self.step) / self.step


class TeachRun:
    """One training run in its own process, watched through its files."""

    def __init__(self, recordings: list[Path], init_model: Path, runs_dir: Path, frames: bool = False,
                 extra: tuple[str, ...] = ()):
        """``frames``: the recordings' own DAVIS frames as R2ETL's image side (else events only)."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.out = Path(runs_dir) / f"{RUN_PREFIX}{stamp}"
        n = 1
        while self.out.exists():
            n += 1
            self.out = Path(runs_dir) / f"{RUN_PREFIX}{stamp}-{n}"
        data = stage_recordings(recordings, self.out / "data")
        mode = ["--images", f"aedat4-frames:{data}"] if frames else ["--mode", "events-only"]
        self.command = [sys.executable, "-m", "r2etl_core.cli.main", "train", "--data", f"aedat4:{data}",
                        "--init", str(init_model), "--out", str(self.out / "model"), "--no-progress",
                        "--set", "run.threads=1", *mode, *extra]
        self._log = open(self.out / "train.log", "w")
        self._t0 = time.monotonic()
        self._steps_at = 0
        self.progress = Progress()
        nice = ["nice", "-n", str(NICE)] if shutil.which("nice") else []
        self.process = subprocess.Popen(nice + self.command, stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def model_dir(self) -> Path:
        return self.out / "model"

    @property
    def best(self) -> Path:
        return self.model_dir / "best.safetensors"

    def poll(self) -> Progress:
        """Read what the run wrote since the last poll (never blocks)."""
        p = self.progress
        p.elapsed_s = time.monotonic() - self._t0
        run = self.model_dir / "run.json"
        if not p.total and run.exists():
            try:
                p.total = int(json.loads(run.read_text())["total_steps"])
            except (ValueError, KeyError, OSError):
                pass
        self._read_steps()
        self._read_metrics()
        code = self.process.poll()
        if code is not None and not p.done:
            p.done = True
            self._log.close()
            if code != 0 or not self.best.exists():
                p.failed = self._why(code)
        return p

    def _read_steps(self) -> None:
        path = self.model_dir / "steps.jsonl"
        if not path.exists():
            return
        with open(path) as f:
            f.seek(self._steps_at)
            chunk = f.read()
        complete = chunk[: chunk.rfind("\n") + 1]  # a line being written is read next time
        self._steps_at += len(complete.encode())
        for line in complete.splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            self.progress.step = int(row.get("step", self.progress.step))
            if "loss" in row:
                self.progress.losses.append((self.progress.step, float(row["loss"])))

    def _read_metrics(self) -> None:
        path = self.model_dir / "metrics.csv"
        if not path.exists():
            return
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        self.progress.val = [(int(r["step"]), float(r["val_accuracy"])) for r in rows if r.get("val_accuracy")]

    def _why(self, code: int) -> str:
        if code < 0:
            return "cancelled"
        try:
            lines = [ln for ln in (self.out / "train.log").read_text().splitlines() if ln.strip()]
        except OSError:
            lines = []
        errors = [ln for ln in lines if "error" in ln.lower()]
        return (errors or lines or [f"training ended with exit code {code}"])[-1]

    def cancel(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


@dataclass(frozen=True)
class RunSummary:
    path: Path  # its best.safetensors
    classes: tuple[str, ...]
    val_accuracy: float | None
    per_class: dict
    steps: int
    seconds: float | None


def run_summary(model: Path) -> RunSummary:
    from r2etl_core.io.modelfile import read_meta

    meta = read_meta(model)
    m = meta.metrics
    return RunSummary(model, tuple(meta.class_names), m.get("best_val_accuracy", m.get("val_accuracy")),
                      dict(m.get("val_per_class") or {}), int(meta.training.get("steps_done", m.get("step", 0))),
                      m.get("train_seconds"))


def list_runs(runs_dir: Path) -> list[RunSummary]:
    """The trained models under ``runs_dir``, newest first (unreadable ones skipped)."""
    found = []
    for best in sorted(Path(runs_dir).glob(f"{RUN_PREFIX}*/model/best.safetensors"), reverse=True):
        try:
            found.append(run_summary(best))
        except Exception:  # a half-written or foreign file: not a run to offer
            continue
    return found
