"""Resumable training state (optimizer, scheduler, counters) in a safetensors file: no pickle.

Tensors of the optimizer state go in as ``opt.<param index>.<name>``; everything else (param
groups, scheduler state, step/epoch/best) is JSON in the safetensors metadata.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from r2etl_core.errors import InputError
from r2etl_core.io.files import atomic_write, check_input_file
from r2etl_core.parse import brief
from r2etl_core.train.trainer import TrainState


def save_train_state(path: str | Path, optimizer: torch.optim.Optimizer,
                     scheduler: torch.optim.lr_scheduler.LRScheduler | None, state: TrainState,
                     raw_model: nn.Module | None = None) -> None:
    """``raw_model``: the trained weights, when the model file holds their average (optim.ema_decay)."""
    path = Path(path)
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for idx, slots in sd["state"].items():
        for name, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"opt.{idx}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{name}"] = value
    if raw_model is not None:
        for name, value in raw_model.state_dict().items():
            tensors[f"raw.{name}"] = value.detach().cpu().contiguous()
    sched = {k: v for k, v in scheduler.state_dict().items()} if scheduler is not None else None
    meta = {"param_groups": sd["param_groups"], "scalars": scalars, "scheduler": sched,
            "train": {"step": state.step, "epoch": state.epoch, "best_accuracy": state.best_accuracy,
                      "best_step": state.best_step, "history": state.history,
                      "ema_updates": state.ema_updates}}
    if not tensors:  # safetensors refuses an empty file
        tensors["_empty"] = torch.zeros(1)
    with atomic_write(path) as tmp:
        save_file(tensors, str(tmp), metadata={"r2etl-train-state": json.dumps(meta)})


def load_train_state(path: str | Path, optimizer: torch.optim.Optimizer,
                     scheduler: torch.optim.lr_scheduler.LRScheduler | None,
                     raw_model: nn.Module | None = None) -> TrainState:
    """``raw_model``: a run with a weight average gets its trained weights back from this file."""
    path = Path(path)
    if not (path.exists() or path.is_symlink()):
        raise InputError(path, "no training state to resume from (run without --resume first)")
    check_input_file(path, "training state file")
    try:
        return _restore(path, optimizer, scheduler, raw_model)
    except (SafetensorError, OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise InputError(path, f"training state is unreadable or does not fit this run ({brief(exc)}); "
                               "run without --resume, or with another --out") from None


def _restore(path: Path, optimizer: torch.optim.Optimizer,
             scheduler: torch.optim.lr_scheduler.LRScheduler | None, raw_model: nn.Module | None) -> TrainState:
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads((f.metadata() or {})["r2etl-train-state"])
        tensors = {k: f.get_tensor(k) for k in f.keys() if k.startswith("opt.")}
        raw = {k[4:]: f.get_tensor(k) for k in f.keys() if k.startswith("raw.")}
    if bool(raw) != (raw_model is not None):
        raise InputError(path, "the run was saved " + ("with" if raw else "without") + " a weight average "
                               "(optim.ema_decay); resume with the same optim.ema_decay")
    if raw_model is not None:
        raw_model.load_state_dict(raw)
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        _, idx, name = key.split(".", 2)
        state.setdefault(int(idx), {})[name] = value
    for key, value in meta["scalars"].items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    if scheduler is not None and meta["scheduler"] is not None:
        scheduler.load_state_dict(meta["scheduler"])
    t = meta["train"]
    return TrainState(t["step"], t["epoch"], t["best_accuracy"], t["best_step"], t["history"],
                      t.get("ema_updates", 0))
