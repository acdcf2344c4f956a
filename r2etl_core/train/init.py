"""Start training from an existing model: fine-tune it, or reuse its trunk for new classes.

``model.init`` names a model file. Its stems, trunk and bottleneck are copied; the classifier
is copied when the new run has the same classes (in any order: rows are matched by name), and
left freshly initialised when the classes differ — which is how a lab teaches the network its
own classes with few labelled clips. The architecture must match (input size and width);
anything else is a one-line error naming the file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from r2etl_core.errors import ModelError, R2ETLWarning
from r2etl_core.io.modelfile import load_model, read_meta
from r2etl_core.nn.model import R2ETLNet

CLASSIFIER = "classifier."


def check_init_fits(path: str | Path, input_size: int, width: float, slice_us: int | None,
                    time_steps: int) -> None:
    """Before any data is read (minutes, gigabytes): a ``--init`` model of another input size or
    width is a one-line error; another slicing or step count is stated as what fine-tuning
    adapts (the weights carry over, their timing is learnt again)."""
    meta = read_meta(path)
    theirs = meta.config
    for label, have, want in (("input size", theirs.input_size, input_size), ("width", theirs.width, width)):
        if have != want:
            raise ModelError(path, f"--init model has {label} {have}, this run {want}: start from a model "
                                   "of the same architecture (or leave data.input_size / model.width as it says)")
    s = meta.slicing
    theirs_timing = (s.slice_us if s.mode == "time" else None, theirs.time_steps)
    if theirs_timing != (slice_us, time_steps):
        sliced = f"{s.slice_us} us slices" if s.mode == "time" else f"{s.events_per_slice}-event slices"
        warnings.warn(R2ETLWarning(f"{path}: --init model was trained on {theirs.time_steps} steps of {sliced}, "
                                   f"this run uses {time_steps} of {slice_us or 'count'} us: its weights are "
                                   "adapted by the training"), stacklevel=2)


def init_from(model: R2ETLNet, path: str | Path, class_names: tuple[str, ...]) -> dict:
    """Copy weights of the model file ``path`` into ``model``; returns what was reused."""
    source, meta = load_model(path)
    mine, theirs = model.config, meta.config
    for field, label in (("input_size", "input size"), ("width", "width"), ("arch", "architecture")):
        if getattr(mine, field) != getattr(theirs, field):
            raise ModelError(path, f"--init model has {label} {getattr(theirs, field)}, this run "
                                   f"{getattr(mine, field)}: start from a model of the same architecture")
    state = source.state_dict()
    target = model.state_dict()
    trunk = {k: v for k, v in state.items() if not k.startswith(CLASSIFIER)}
    target.update(trunk)
    same_classes = set(class_names) == set(meta.class_names)
    if same_classes:
        order = torch.tensor([meta.class_names.index(name) for name in class_names])
        for key in (k for k in state if k.startswith(CLASSIFIER)):
            target[key] = state[key][order]
    model.load_state_dict(target)
    return {"init_from": str(path), "init_classes": list(meta.class_names),
            "reused": "all" if same_classes else "stems, trunk and bottleneck (new classifier)"}
