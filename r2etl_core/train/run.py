"""Run a training job described by a ``TrainConfig``: data, model, optimiser, trainer, export.

Distributed: launched with ``torchrun --nproc_per_node N -m r2etl_core.cli.main train ...`` the
process group is initialised from the environment (gloo on CPU, nccl on CUDA), the objective is
wrapped in DistributedDataParallel and each rank reads its share through a DistributedSampler.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

from r2etl_core import __version__
from r2etl_core.errors import InputError, R2ETLWarning
from r2etl_core.io.files import atomic_write
from r2etl_core.io.modelfile import load_model
from r2etl_core.nn.meta import ModelMeta
from r2etl_core.nn.model import ModelConfig, apply_init_scheme, build_model
from r2etl_core.nn.device import pick_device
from r2etl_core.train.callbacks import BEST, LAST, STATE, Checkpointer, MetricsLog, Plots, ProgressBar, with_metrics
from r2etl_core.train.config import OFFSET_SUBSLICES, TrainConfig, check_run_paths
from r2etl_core.train.data import TrainData, build_train_data, excluded_image_ids, prepare_images
from r2etl_core.train.datasets.events import EventSet, sensor_size
from r2etl_core.train.datasets.small_data import sized_for
from r2etl_core.train.diagnostics import ImageProbe
from r2etl_core.train.ema import WeightAverage
from r2etl_core.train.evaluate import EvalResult
from r2etl_core.train.init import check_init_fits, init_from
from r2etl_core.train.objective import Objective
from r2etl_core.train.state import load_train_state
from r2etl_core.train.trainer import Callback, Trainer, seed_everything
from r2etl_core.nn.meta import SlicingSpec


def init_distributed(device: torch.device) -> tuple[int, int]:
    """(rank, world size); initialises the process group when started by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return torch.distributed.get_rank(), world


def make_scheduler(cfg: TrainConfig, optimizer: torch.optim.Optimizer, total_steps: int):
    o = cfg.optim
    if o.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, o.lr_step, o.lr_gamma), False
    if o.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(1, total_steps)), True
    return None, False


def make_loader(dataset, cfg: TrainConfig, rank: int, world: int, device: torch.device) -> DataLoader:
    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True,
                                 seed=cfg.run.seed, drop_last=True)
    loader = DataLoader(dataset, batch_size=cfg.optim.batch_size, sampler=sampler, drop_last=True,
                        num_workers=0, pin_memory=device.type == "cuda")
    if len(loader) == 0:
        raise InputError(cfg.data.events_dir, f"too few training samples ({len(dataset)}) "
                                              f"for batch size {cfg.optim.batch_size}")
    return loader


def count_slice_events(val: EventSet, sensor: tuple[int, int], input_size: int) -> int:
    """Mean events per time step of count-sliced training frames: a stream is later cut into
    slices of this many events (0 would never close a slice, so a model file refuses it).
    Frames were resized from the sensor to ``input_size``, which scales counts by the area ratio."""
    steps = val.frames.shape[0] * val.frames.shape[1] if len(val) else 0
    if not steps:
        return 1
    total = float(val.frames.sum(dtype=np.float64)) * sensor[0] * sensor[1] / input_size**2
    return max(1, round(total / steps))


def base_meta(cfg: TrainConfig, data: TrainData, model_cfg: ModelConfig, command: str, total: int) -> ModelMeta:
    """Model-file metadata: architecture, slicing, classes, normalisation, provenance, held-out ids."""
    d = cfg.data
    sensor = data.sensor or sensor_size(d.events)
    if d.frame_mode == "time":
        slicing = SlicingSpec("time", d.slice_us, 0, *sensor)
    else:
        slicing = SlicingSpec("count", 0, count_slice_events(data.val, sensor, d.input_size), *sensor)
    training = {"data": {"events": d.events, "events_dir": d.events_dir, "images": d.images,
                         "images_path": d.images_path, **data.counts},
                "command": command, "mode": cfg.loss.mode, "seed": cfg.run.seed, "steps": total,
                "config": cfg.to_dict(), "holdout": list(data.holdout), "holdout_root": d.events_dir,
                "time_origin": d.time_origin, "held_out": data.held_out}
    return ModelMeta(model_cfg, data.class_names, slicing, data.normalisation, training, {}, __version__)


def train(cfg: TrainConfig, command: str = "", extra_callbacks: list[Callback] = ()) -> tuple[Trainer, Path]:
    """Train; returns the trainer and the path of the best model file."""
    check_run_paths(cfg)
    if cfg.model.init:  # a bad or unfitting --init fails now, not after the data is loaded
        check_init_fits(cfg.model.init, cfg.data.input_size, cfg.model.width,
                        cfg.data.slice_us if cfg.data.frame_mode == "time" else None, cfg.data.time_steps)
    device = pick_device(cfg.run.device, "run.device")
    if cfg.run.threads > 0:
        torch.set_num_threads(cfg.run.threads)
    rank, world = init_distributed(device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    seed_everything(cfg.run.seed)
    if cfg.run.resume and not (Path(cfg.run.out_dir) / LAST).exists():
        warnings.warn(R2ETLWarning(f"--resume: no checkpoint {Path(cfg.run.out_dir) / LAST} to resume from: "
                                   "training starts at step 0"), stacklevel=2)
    data = build_train_data(cfg.data, events_only=cfg.loss.mode == "events-only")
    if len(data.class_names) == 1:
        warnings.warn(R2ETLWarning(f"only one class ('{data.class_names[0]}') in the training data: every "
                                   "answer is that class, so validation accuracy is 1.0 and means nothing "
                                   "(add a second class)"), stacklevel=2)
    cfg = sized_for(cfg, len(data.train))  # a batch size / step budget of 0: from the amount of data
    model_cfg = ModelConfig(len(data.class_names), cfg.data.input_size, cfg.model.width, cfg.data.time_steps)
    model = apply_init_scheme(build_model(model_cfg), cfg.model.init_scheme)
    init = init_from(model, cfg.model.init, data.class_names) if cfg.model.init else {}
    model = model.to(device)
    objective = Objective(model, cfg.loss.mode, cfg.loss.w_enc, cfg.loss.w_fea)
    if world > 1:
        objective = torch.nn.parallel.DistributedDataParallel(
            objective, find_unused_parameters=not objective.uses_images)
    loader = make_loader(data.train, cfg, rank, world, device)
    total = cfg.optim.steps if cfg.optim.steps > 0 else cfg.optim.epochs * len(loader)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.optim.lr)
    scheduler, per_step = make_scheduler(cfg, optimizer, total)
    out = Path(cfg.run.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta0 = base_meta(cfg, data, model_cfg, command, total)
    meta0 = dataclasses.replace(meta0, training={**meta0.training, **init})
    t0 = time.monotonic()

    def meta_for(trainer: Trainer, result: EvalResult) -> ModelMeta:
        per_class = {name: (None if acc != acc else round(acc, 4)) for name, acc in zip(result.class_names,
                                                                                         result.per_class)}
        meta = with_metrics(meta0, val_accuracy=result.accuracy, val_n=result.n, val_per_class=per_class,
                            best_val_accuracy=max(trainer.state.best_accuracy, result.accuracy),
                            step=trainer.state.step, train_seconds=round(time.monotonic() - t0, 1))
        if trainer.ema is not None:  # the file holds the weight average; what the raw weights scored
            meta = with_metrics(meta, weights=f"ema {trainer.ema.decay}",
                                val_accuracy_raw=trainer.state.history[-1].get("val_accuracy_raw"))
        return dataclasses.replace(meta, training={**meta.training, "steps_done": trainer.state.step})

    amp = cfg.run.amp == "on" or (cfg.run.amp == "auto" and device.type == "cuda")
    callbacks = [ProgressBar(cfg.run.progress), MetricsLog(out), Checkpointer(out, meta_for), Plots(out),
                 *extra_callbacks]
    trainer = Trainer(objective, model, optimizer, scheduler, per_step, loader, data.val, total,
                      cfg.run.eval_every, cfg.run.seed, device, cfg.data.augment_flip, cfg.data.augment_shift,
                      amp, rank, callbacks, augment_noise_hz=cfg.data.augment_noise_hz,
                      slice_s=cfg.data.slice_us / 1e6, diag_every=cfg.run.diag_every,
                      augment_offset=cfg.data.augment_offset,
                      offset_sub=OFFSET_SUBSLICES if cfg.data.augment_offset > 0 else 1,
                      probe=image_probe(cfg, data),
                      ema=WeightAverage(model, cfg.optim.ema_decay) if cfg.optim.ema_decay > 0 else None)
    if cfg.run.resume and (out / LAST).exists():
        last = load_model(out / LAST)[0].state_dict()
        if trainer.ema is None:
            model.load_state_dict(last)
            trainer.state = load_train_state(out / STATE, optimizer, scheduler)
        else:  # last.safetensors is the average; the trained weights are in the state file
            trainer.state = load_train_state(out / STATE, optimizer, scheduler, raw_model=model)
            trainer.ema.load(last, trainer.state.ema_updates)
    trainer.fit()
    if rank == 0 and cfg.run.export:
        export(out / BEST, Path(cfg.run.export))
    return trainer, out / BEST


def image_probe(cfg: TrainConfig, data: TrainData) -> ImageProbe | None:
    """Events-only runs load no images; with diagnostics on they get some to measure EAM/FAM on
    (the same images, split and fraction a joint run would train on)."""
    if cfg.loss.mode != "events-only" or cfg.run.diag_every <= 0:
        return None
    images, labels, _ = prepare_images(cfg.data, data.class_names, excluded_image_ids(cfg.data, data.val))
    return ImageProbe(images, labels)


def export(src: Path, dst: Path) -> None:
    """Copy atomically (a crash mid-copy never leaves a half-written model at ``dst``)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(dst) as tmp:
        shutil.copyfile(src, tmp)
