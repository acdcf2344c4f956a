"""Training and validation windows from a ``DataConfig`` naming labelled recordings (``aedat4``).

Validation is made of whole recordings (``by-recording``: held out of ``events_dir``;
``folder``: the recordings of ``val_dir``), or of the last quarter of every labelled segment
(``by-time``, for a few short clips; ``auto``: by recording when the clips allow it, else by
time: ``small_data``), cut into NON-overlapping windows: overlapping ones would count the same
events several times without adding evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from r2etl_core.errors import InputError, ModelError
from r2etl_core.nn.meta import ModelMeta
from r2etl_core.train.config import DataConfig, parse_roi
from r2etl_core.train.datasets.events import EventSet
from r2etl_core.train.datasets.recordings import RecordingSet, scan_recordings, split_by_recording
from r2etl_core.train.datasets.small_data import auto_stride, split_by_time
from r2etl_core.train.datasets.windows import WindowParams, load_windows


@dataclass(frozen=True)
class RecordingSplit:
    train: EventSet
    val: EventSet
    holdout: tuple[str, ...]  # validation recordings, relative to their folder
    sensor: tuple[int, int]
    held_out: str = "by-recording"  # how: by-recording, by-time or folder


def window_params(cfg: DataConfig, stride_slices: int) -> WindowParams:
    roi = parse_roi(cfg.roi) if cfg.roi else None
    return WindowParams(cfg.time_steps, cfg.slice_us, stride_slices, cfg.input_size, roi)


def validation_recordings(cfg: DataConfig, train: RecordingSet) -> RecordingSet:
    """The recordings of ``data.val_dir``, checked against the training ones."""
    if not cfg.val_dir:
        raise InputError("data.val_dir", "split = 'folder' needs data.val_dir (a folder of held-out recordings)")
    val = scan_recordings(cfg.val_dir)
    unknown = sorted(set(val.class_names) - set(train.class_names))
    if unknown:
        raise InputError(cfg.val_dir, f"classes {unknown[:8]} have no training recordings in {cfg.events_dir}")
    if val.sensor != train.sensor:
        raise InputError(cfg.val_dir, f"sensor {val.sensor[0]}x{val.sensor[1]}, the training recordings "
                                      f"{train.sensor[0]}x{train.sensor[1]}")
    return RecordingSet(val.root, val.recordings, train.class_names, val.sensor)


def split_recordings(cfg: DataConfig) -> RecordingSplit:
    """Windows of the training and of the validation recordings (see the module docstring)."""
    recordings = scan_recordings(cfg.events_dir)
    held_out = cfg.split
    if cfg.split == "folder":
        train, val = recordings, validation_recordings(cfg, recordings)
    elif cfg.split == "by-time":
        train, val = split_by_time(recordings, window_params(cfg, 1))
    else:
        try:
            train_rel, val_rel = split_by_recording(recordings, cfg.val_every, cfg.val_fold)
            train, val = recordings.subset(train_rel), recordings.subset(val_rel)
            held_out = "by-recording"
        except InputError:
            if cfg.split != "auto":
                raise
            train, val = split_by_time(recordings, window_params(cfg, 1))
            held_out = "by-time"
    stride = cfg.window_stride_slices or auto_stride(train, window_params(cfg, 1))
    cache = cfg.cache_dir or None
    train_windows = load_windows(train, window_params(cfg, stride), cache)
    val_windows = load_windows(val, window_params(cfg, cfg.time_steps), cache)
    return RecordingSplit(train_windows, val_windows, tuple(rec.rel for rec in val.recordings), recordings.sensor,
                          held_out)


def eval_windows(recordings: RecordingSet, meta: ModelMeta, model_path: str | Path, split: str,
                 cache_dir: str | None) -> EventSet:
    """Non-overlapping windows of ``recordings``, framed as ``meta`` says its model was trained,
    labels in the model's class order; ``split="val"``: only the recordings it held out."""
    if meta.slicing.mode != "time":
        raise ModelError(model_path, "labelled recordings are cut into time slices; this model was trained "
                                     "on count slices")
    for rec in recordings.recordings:
        unknown = sorted(rec.labels - set(meta.class_names))
        if unknown:
            raise InputError(rec.sidecar, f"label '{unknown[0]}' is not a class of the model "
                                          f"(classes: {list(meta.class_names)})")
    roi = meta.training.get("config", {}).get("data", {}).get("roi", "")
    c = meta.config
    params = WindowParams(c.time_steps, meta.slicing.slice_us, c.time_steps, c.input_size,
                          parse_roi(roi) if roi else None)
    if split == "val":
        holdout = meta.training.get("holdout")
        if not holdout or meta.training.get("data", {}).get("events") != "aedat4":
            raise InputError(recordings.root, "the model file records no held-out recordings; use --split all")
        recordings = recordings.subset(list(holdout))
        if meta.training.get("held_out") == "by-time":  # the last quarter of every segment
            recordings = split_by_time(recordings, replace(params, stride_slices=1))[1]
    return load_windows(RecordingSet(recordings.root, recordings.recordings, meta.class_names,
                                     recordings.sensor), params, cache_dir)
