"""Readouts: how the per-slice logits of a streaming SNN become the prediction shown.

``ReadoutState`` is owned by the inference core (model thread). It says which network
copies restart before a step (``restarts``), and folds each step's logits and ROI activity
into the prediction logits and a smoothed activity (``update``). The kinds are documented on
``r2etl_core.types.Readout``.
"""

from __future__ import annotations

import collections
import math

import torch

from r2etl_core.types import Readout

ACTIVITY_TAU_MS = 15.0  # measured: 95% "no decision" in idle stretches between digits (75 ms: 72%)


class ReadoutState:
    def __init__(self, readout: Readout, time_steps: int):
        self.readout = readout
        self.window = readout.window_slices or time_steps
        self.copies = max(1, min(readout.copies, self.window)) if readout.kind == "staggered" else 1
        # copy k restarts when (steps + offset_k) % window == 0: evenly spread restarts
        self._offsets = torch.tensor([k * self.window // self.copies for k in range(self.copies)])
        self.reset()

    def reset(self) -> None:
        """Everything from rest (a reset policy fired, a seek, a new input)."""
        self.steps = 0  # slices since the last full reset
        self._since = torch.zeros(self.copies, dtype=torch.long)  # slices since each copy's restart
        self._sum: torch.Tensor | None = None  # per-copy logit sums since restart ([K, C])
        self._recent: collections.deque = collections.deque(maxlen=self.window)
        self._ema: torch.Tensor | None = None
        self._activity: float | None = None

    def restart_due(self, steps: int) -> bool:
        """Whether some copy restarts before the step taken after ``steps`` steps."""
        if self.copies == 1 or steps == 0:
            return False
        return any((steps + int(o)) % self.window == 0 for o in self._offsets)

    def restarts(self) -> torch.Tensor | None:
        """Copies to restart from rest before this step ([K] bool), None when none does."""
        if self.copies == 1 or self.steps == 0:
            return None
        due = (self.steps + self._offsets) % self.window == 0
        return due if bool(due.any()) else None

    def update(self, logits: torch.Tensor, activity: float, dt_ms: float) -> tuple[torch.Tensor, float]:
        """Fold one step's ``logits`` ([K, C]) and ROI ``activity``; returns the logits to
        predict from ([C]) and the smoothed activity."""
        kind = self.readout.kind
        alpha = 1.0 - math.exp(-max(dt_ms, 1e-3) / self.readout.tau_ms) if kind == "ema" else 1.0 / self.window
        # the activity gate forgets faster than the answer: "nothing there" should show soon
        # after an object leaves, while the answer itself stays steady
        a_act = 1.0 - math.exp(-max(dt_ms, 1e-3) / ACTIVITY_TAU_MS)
        self._activity = activity if self._activity is None else self._activity + a_act * (activity - self._activity)
        self.steps += 1
        if kind == "staggered":
            return self._staggered(logits), self._activity
        step = logits[0]
        if kind == "ema":
            self._ema = step.clone() if self._ema is None else self._ema + alpha * (step - self._ema)
            return self._ema, self._activity
        if kind == "window":
            self._recent.append(step)
            return torch.stack(tuple(self._recent)).mean(0), self._activity
        self._sum = step.clone() if self._sum is None else self._sum + step
        return self._sum / self.steps, self._activity

    def mark_restarted(self, restart: torch.Tensor | None) -> None:
        """The copies in ``restart`` were set to rest before this step."""
        if restart is not None:
            self._since[restart] = 0
            if self._sum is not None:
                self._sum[restart.to(self._sum.device)] = 0.0

    def _staggered(self, logits: torch.Tensor) -> torch.Tensor:
        self._sum = logits.clone() if self._sum is None else self._sum + logits
        self._since += 1
        best = int(torch.argmax(self._since))  # the copy closest to a full window
        return self._sum[best] / self._since[best].to(self._sum.dtype)
