"""Evaluate the event branch: accuracy, per-class accuracy and confusion matrix; eval data framed
exactly as a model file says its model was trained."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from r2etl_core.errors import InputError
from r2etl_core.nn.meta import ModelMeta
from r2etl_core.nn.model import R2ETLNet
from r2etl_core.train.datasets.events import EventSet, default_frame_params, load_event_set, scan_event_folders
from r2etl_core.train.datasets.folders import ClassFiles, match_classes
from r2etl_core.types import DEFAULT_SLICE_US


@dataclass(frozen=True)
class EvalResult:
    accuracy: float
    n: int
    per_class: tuple[float, ...]  # NaN for classes without samples
    confusion: np.ndarray  # [true, predicted] counts
    class_names: tuple[str, ...]

    def to_json(self) -> dict:
        return {
            "accuracy": self.accuracy, "n": self.n,
            "per_class": {name: (None if np.isnan(a) else round(float(a), 5))
                          for name, a in zip(self.class_names, self.per_class)},
            "confusion": self.confusion.tolist(), "class_names": list(self.class_names),
        }


def predict(model: R2ETLNet, frames: np.ndarray, batch_size: int = 64,
            device: str | torch.device = "cpu") -> np.ndarray:
    """Argmax of the mean-over-T logits for ``[N, T, 2, S, S]`` frames (multi-step, eval mode)."""
    was_training, mode = model.training, model.step_mode
    model.eval()
    model.set_step_mode("m")
    preds = []
    with torch.no_grad():
        for i in range(0, len(frames), batch_size):
            x = torch.from_numpy(np.array(frames[i:i + batch_size], np.float32)).to(device)  # a copy: mmap is read-only
            model.reset_state()
            logits = model(x.transpose(0, 1), "events")
            preds.append(logits.mean(0).argmax(1).cpu().numpy())
    model.reset_state()
    model.set_step_mode(mode)
    model.train(was_training)
    return np.concatenate(preds) if preds else np.zeros(0, np.int64)


def summarize(preds: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...]) -> EvalResult:
    k = len(class_names)
    flat = labels.astype(np.int64) * k + preds.astype(np.int64)
    confusion = np.bincount(flat, minlength=k * k).reshape(k, k)
    support = confusion.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(support > 0, np.diag(confusion) / np.maximum(support, 1), np.nan)
    n = int(len(labels))
    acc = float((preds == labels).mean()) if n else float("nan")
    return EvalResult(acc, n, tuple(float(a) for a in per_class), confusion, class_names)


def evaluate(model: R2ETLNet, frames: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...],
             batch_size: int = 64, device: str | torch.device = "cpu") -> EvalResult:
    return summarize(predict(model, frames, batch_size, device), np.asarray(labels), class_names)


def eval_event_set(kind: str, folder: Path, meta: ModelMeta, split: str,
                   cache_dir: str | None = None, files: ClassFiles | None = None) -> EventSet:
    """Frames + labels (in the model's class order) of ``folder``; ``split="val"`` keeps only the
    samples the model's training held out (paths relative to the dataset root). ``files``: the
    folder's scan when the caller already made it (to fail on a bad folder before loading a model)."""
    files = files if files is not None else scan_event_folders(kind, folder)
    to_model = match_classes(meta.class_names, files.class_names, folder)
    s = meta.slicing
    params = default_frame_params(kind, meta.config.time_steps, meta.config.input_size,
                                  s.mode, s.slice_us or DEFAULT_SLICE_US, meta.training.get("time_origin", "zero"))
    only = None
    if split == "val":
        holdout = meta.training.get("holdout")
        if not holdout:
            raise InputError(folder, "the model file records no held-out validation samples; use --split all")
        only = list(holdout)
    events = load_event_set(kind, files, params, cache_dir, only=only)
    labels = np.asarray([to_model[int(lab)] for lab in events.labels], np.int64)
    return EventSet(events.frames, labels, meta.class_names, events.paths)
