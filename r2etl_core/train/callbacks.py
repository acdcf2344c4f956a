"""Trainer callbacks: tqdm progress, metrics CSV/JSONL, best+last checkpoints, plots at the end."""

from __future__ import annotations

import csv
import dataclasses
import json
import time
from pathlib import Path
from typing import Callable

import numpy as np

from r2etl_core.io.modelfile import save_model

from r2etl_core.nn.meta import ModelMeta
from r2etl_core.train.evaluate import EvalResult
from r2etl_core.train.state import save_train_state
from r2etl_core.train.trainer import Callback, Trainer

LAST, BEST, STATE = "last.safetensors", "best.safetensors", "last-state.safetensors"


class ProgressBar(Callback):
    def __init__(self, enabled: bool = True):
        self.enabled, self.bar = enabled, None

    def on_train_start(self, trainer: Trainer) -> None:
        if self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=trainer.total_steps, initial=trainer.state.step, unit="step",
                            desc="train", dynamic_ncols=True)

    def on_step_end(self, trainer: Trainer, parts: dict[str, float]) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{parts['loss']:.3f}", best=f"{trainer.state.best_accuracy:.3f}")

    def on_train_end(self, trainer: Trainer) -> None:
        if self.bar is not None:
            self.bar.close()


class MetricsLog(Callback):
    """``steps.jsonl`` (every step) and ``metrics.csv`` (every evaluation, with running train means)."""

    FIELDS = ["step", "epoch", "lr", "loss", "train_acc", "tet_evt", "tet_img", "eam", "fam",
              "val_accuracy", "val_accuracy_raw", "elapsed_s", "grad_share_tet_evt", "grad_share_tet_img",
              "grad_share_eam", "grad_share_fam"]

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self._acc: dict[str, list[float]] = {}
        self._t0 = time.monotonic()

    def on_train_start(self, trainer: Trainer) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._t0 = time.monotonic()
        # what a watcher (the viewer's Teach panel) needs to show progress and an ETA
        (self.out_dir / "run.json").write_text(json.dumps({"total_steps": trainer.total_steps,
                                                           "start_step": trainer.state.step}))

    def on_step_end(self, trainer: Trainer, parts: dict[str, float]) -> None:
        for k, v in parts.items():
            self._acc.setdefault(k, []).append(v)
        with open(self.out_dir / "steps.jsonl", "a") as f:
            f.write(json.dumps({"step": trainer.state.step, **{k: round(v, 6) for k, v in parts.items()}}) + "\n")

    def on_eval(self, trainer: Trainer, result: EvalResult, is_best: bool) -> None:
        path = self.out_dir / "metrics.csv"
        row = {k: (float(np.mean(v)) if v else "") for k, v in self._acc.items()}
        raw = trainer.state.history[-1].get("val_accuracy_raw", "") if trainer.state.history else ""
        row.update(step=trainer.state.step, epoch=trainer.state.epoch, val_accuracy=result.accuracy,
                   val_accuracy_raw=raw,
                   lr=trainer.optimizer.param_groups[0]["lr"], elapsed_s=round(time.monotonic() - self._t0, 1))
        new = not path.exists()
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.FIELDS, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)
        self._acc = {}


class Checkpointer(Callback):
    """``last.safetensors`` + its training state after every evaluation, ``best.safetensors`` when
    validation accuracy improved. Writes are atomic (modelio.save_model)."""

    def __init__(self, out_dir: Path, meta_for: Callable[[Trainer, EvalResult], ModelMeta]):
        self.out_dir, self.meta_for = out_dir, meta_for

    def on_eval(self, trainer: Trainer, result: EvalResult, is_best: bool) -> None:
        meta = self.meta_for(trainer, result)
        if is_best:
            save_model(trainer.eval_model, meta, self.out_dir / BEST)
        save_model(trainer.eval_model, meta, self.out_dir / LAST)
        raw = trainer.model if trainer.ema is not None else None  # last.safetensors holds the average
        save_train_state(self.out_dir / STATE, trainer.optimizer, trainer.scheduler, trainer.state, raw)


class Plots(Callback):
    """Loss / accuracy curves and the last confusion matrix as PNGs (matplotlib, Agg backend)."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir

    def on_train_end(self, trainer: Trainer) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        steps_file = self.out_dir / "steps.jsonl"
        rows = [json.loads(ln) for ln in steps_file.read_text().splitlines()] if steps_file.exists() else []
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
        if rows:
            a1.plot([r["step"] for r in rows], [r["loss"] for r in rows], lw=0.7)
        a1.set(xlabel="step", ylabel="training loss", title="loss")
        hist = trainer.state.history
        a2.plot([h["step"] for h in hist], [h["val_accuracy"] for h in hist], marker="o",
                label="weight average" if trainer.ema is not None else None)
        if trainer.ema is not None:
            a2.plot([h["step"] for h in hist], [h.get("val_accuracy_raw") for h in hist], marker=".", ls="--",
                    label="raw weights")
            a2.legend()
        a2.set(xlabel="step", ylabel="validation accuracy", title="event-branch accuracy")
        fig.tight_layout()
        fig.savefig(self.out_dir / "curves.png", dpi=100)
        plt.close(fig)
        if trainer.last_result is not None:
            save_confusion_png(trainer.last_result, self.out_dir / "confusion.png")


def save_confusion_png(result: EvalResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(result.class_names)
    fig, ax = plt.subplots(figsize=(max(4, k * 0.45), max(4, k * 0.45)))
    ax.imshow(result.confusion, cmap="Blues")
    if k <= 20:
        ax.set_xticks(range(k), result.class_names, rotation=90)
        ax.set_yticks(range(k), result.class_names)
        for i in range(k):
            for j in range(k):
                if result.confusion[i, j]:
                    ax.text(j, i, str(result.confusion[i, j]), ha="center", va="center", fontsize=7)
    ax.set(xlabel="predicted", ylabel="true", title=f"accuracy {result.accuracy:.4f} (n={result.n})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def with_metrics(meta: ModelMeta, **metrics) -> ModelMeta:
    return dataclasses.replace(meta, metrics={**meta.metrics, **metrics})
