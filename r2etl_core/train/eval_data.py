"""Event samples for ``r2etl eval``, framed exactly as the model in a model file was trained."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..datasets.events import EventSet, default_frame_params, load_event_set, scan_event_folders
from ..datasets.folders import match_classes
from ..errors import InputError
from ..modelio import ModelMeta


def eval_event_set(kind: str, folder: Path, meta: ModelMeta, split: str,
                   cache_dir: str | None = None) -> EventSet:
    """Frames + labels (in the model's class order) of ``folder``; ``split="val"`` keeps only the
    samples the model's training held out (paths relative to the dataset root)."""
    files = scan_event_folders(kind, folder)
    to_model = match_classes(meta.class_names, files.class_names, folder)
    s = meta.slicing
    params = default_frame_params(kind, meta.config.time_steps, meta.config.input_size,
                                  s.mode, s.slice_us or 30_000, meta.training.get("time_origin", "zero"))
    only = None
    if split == "val":
        holdout = meta.training.get("holdout")
        if not holdout:
            raise InputError(folder, "the model file records no held-out validation samples; use --split all")
        only = list(holdout)
    events = load_event_set(kind, files, params, cache_dir, only=only)
    labels = np.asarray([to_model[int(lab)] for lab in events.labels], np.int64)
    return EventSet(events.frames, labels, meta.class_names, events.paths)
