"""A short training loop; progress, logs, checkpoints and plots are callbacks (see callbacks.py)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from r2etl_core.train.datasets.events import EventSet
from r2etl_core.train.datasets.pairing import add_background_noise, augment_events, random_offset_windows
from r2etl_core.train.diagnostics import ImageProbe, grad_shares
from r2etl_core.train.ema import WeightAverage
from r2etl_core.train.evaluate import EvalResult, evaluate


class Callback:
    """Hooks called by ``Trainer.fit``; override what you need. Only rank 0 gets callbacks."""

    def on_train_start(self, trainer: "Trainer") -> None: ...
    def on_step_end(self, trainer: "Trainer", parts: dict[str, float]) -> None: ...
    def on_eval(self, trainer: "Trainer", result: EvalResult, is_best: bool) -> None: ...
    def on_train_end(self, trainer: "Trainer") -> None: ...


@dataclass
class TrainState:
    step: int = 0
    epoch: int = 0
    best_accuracy: float = -1.0
    best_step: int = 0
    history: list[dict] = field(default_factory=list)  # one dict per evaluation
    ema_updates: int = 0  # optimiser steps folded into the weight average (optim.ema_decay)


@dataclass
class Trainer:
    objective: nn.Module  # Objective, possibly wrapped in DistributedDataParallel
    model: nn.Module  # the bare R2ETLNet (for evaluation and saving)
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    scheduler_per_step: bool
    loader: DataLoader
    val: EventSet
    total_steps: int
    eval_every: int  # 0 = at each epoch end
    seed: int
    device: torch.device
    augment_flip: bool = True
    augment_shift: int = 5
    amp: bool = False
    rank: int = 0
    callbacks: list[Callback] = field(default_factory=list)
    state: TrainState = field(default_factory=TrainState)
    last_result: EvalResult | None = None
    augment_noise_hz: float = 0.0  # background-activity augmentation, max events/s per pixel
    slice_s: float = 0.03  # the frames' slice length (for the noise counts)
    augment_offset: float = 0.0  # share of windows at a random phase (training frames are finer)
    offset_sub: int = 1  # fine slices per model slice in the training frames
    diag_every: int = 0  # steps between gradient-share diagnostics (diagnostics.py); 0 = never
    probe: ImageProbe | None = None  # events-only runs: images to measure EAM/FAM on, at diag steps
    ema: WeightAverage | None = None  # when set, it is what is evaluated, checkpointed and shipped

    @property
    def eval_model(self) -> nn.Module:
        """The network evaluations and model files are made of: the weight average when there is one."""
        return self.ema.model if self.ema is not None else self.model

    def _emit(self, hook: str, *args) -> None:
        if self.rank == 0:
            for cb in self.callbacks:
                getattr(cb, hook)(self, *args)

    def _batch(self, batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        if len(batch) == 3:
            images, events, labels = batch
        else:
            (events, labels), images = batch, None
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.state.step)
        if self.offset_sub > 1:
            events = random_offset_windows(events, gen, self.offset_sub, self.augment_offset)
        events = augment_events(events, gen, self.augment_flip, self.augment_shift)
        events = add_background_noise(events, gen, self.augment_noise_hz, self.slice_s)
        events = events.transpose(0, 1).contiguous().to(self.device, non_blocking=True)
        images = images.to(self.device, non_blocking=True) if images is not None else None
        return events, labels.to(self.device), images

    def train_step(self, batch) -> dict[str, float]:
        events, labels, images = self._batch(batch)
        diag = self.diag_every > 0 and self.state.step % self.diag_every == 0
        probe = self.probe.images_for(labels, self.state.step) if diag and self.probe is not None else None
        probe = probe.to(self.device) if probe is not None else None
        autocast = torch.autocast("cuda", dtype=torch.float16) if self.amp else contextlib.nullcontext()
        with autocast:
            loss, parts, logits = self.objective(events, labels, images, probe)
        if diag:
            bare = getattr(self.objective, "module", self.objective)  # unwrap DistributedDataParallel
            parts = {**parts, **grad_shares(bare.terms, list(self.model.trunk.parameters()))}
        self.optimizer.zero_grad(set_to_none=True)
        if self.amp:
            self._scaler.scale(loss).backward()
            self._scaler.step(self.optimizer)
            self._scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        if self.ema is not None:
            self.ema.update(self.model)
            self.state.ema_updates = self.ema.updates
        if self.scheduler is not None and self.scheduler_per_step:
            self.scheduler.step()
        out = {k: float(v) for k, v in parts.items()}
        out["loss"] = float(loss.detach())
        out["train_acc"] = float((logits.detach().mean(0).argmax(1) == labels).float().mean())
        return out

    def run_eval(self) -> None:
        self._last_eval_step = self.state.step  # on every rank: all must meet at the barrier
        if self.rank == 0:
            result = evaluate(self.eval_model, self.val.frames, self.val.labels, self.val.class_names,
                              device=self.device)
            is_best = result.accuracy > self.state.best_accuracy
            if is_best:
                self.state.best_accuracy, self.state.best_step = result.accuracy, self.state.step
            entry = {"step": self.state.step, "epoch": self.state.epoch, "val_accuracy": result.accuracy}
            if self.ema is not None:  # the raw weights too, to see what the average adds
                entry["val_accuracy_raw"] = evaluate(self.model, self.val.frames, self.val.labels,
                                                     self.val.class_names, device=self.device).accuracy
            self.state.history.append(entry)
            self.last_result = result
            self._emit("on_eval", result, is_best)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.barrier()

    def fit(self) -> TrainState:
        self._scaler = torch.amp.GradScaler("cuda") if self.amp else None
        self._last_eval_step = self.state.history[-1]["step"] if self.state.history else -1
        self.model.train()
        self._emit("on_train_start")
        steps_per_epoch = len(self.loader)
        while self.state.step < self.total_steps:
            sampler = self.loader.sampler
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(self.state.epoch)
            skip = self.state.step - self.state.epoch * steps_per_epoch  # resume mid-epoch
            for i, batch in enumerate(self.loader):
                if i < skip:
                    continue
                parts = self.train_step(batch)
                self.state.step += 1
                self._emit("on_step_end", parts)
                if self.eval_every and self.state.step % self.eval_every == 0:
                    self.run_eval()
                if self.state.step >= self.total_steps:
                    break
            else:
                self.state.epoch += 1
                if self.scheduler is not None and not self.scheduler_per_step:
                    self.scheduler.step()
                if not self.eval_every:
                    self.run_eval()
        if self._last_eval_step != self.state.step:
            self.run_eval()
        self._emit("on_train_end")
        return self.state


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
