"""Evaluate the event branch: accuracy, per-class accuracy and confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..model import R2ETLNet


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
            x = torch.from_numpy(np.asarray(frames[i:i + batch_size], np.float32)).to(device)
            model.reset_state()
            logits = model(x.transpose(0, 1), "events")
            preds.append(logits.mean(0).argmax(1).cpu().numpy())
    model.reset_state()
    model.set_step_mode(mode)
    model.train(was_training)
    return np.concatenate(preds) if preds else np.zeros(0, np.int64)


def summarize(preds: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...]) -> EvalResult:
    k = len(class_names)
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (labels, preds), 1)
    support = confusion.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(support > 0, np.diag(confusion) / np.maximum(support, 1), np.nan)
    n = int(len(labels))
    acc = float((preds == labels).mean()) if n else float("nan")
    return EvalResult(acc, n, tuple(float(a) for a in per_class), confusion, class_names)


def evaluate(model: R2ETLNet, frames: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...],
             batch_size: int = 64, device: str | torch.device = "cpu") -> EvalResult:
    return summarize(predict(model, frames, batch_size, device), np.asarray(labels), class_names)
