"""Checks of a model file's metadata and weights, before anything is built from them.

A model file comes from anywhere (a download, a half-copied run, a hand-edited header), and
its metadata decides how much memory loading takes (input size 100000 asks for 320 GB) and how
a stream is sliced (zero events per slice never finishes a slice). So every number is checked
against the ranges training itself uses (``r2etl_core.limits``), and every problem is a
``ModelError`` naming the file and the key, never a TypeError from deep inside torch.
"""

from __future__ import annotations

from pathlib import Path

import torch

from r2etl_core import limits
from r2etl_core.errors import InputError, ModelError
from r2etl_core.parse import check_choice, check_number, check_whole, shown
from r2etl_core.types import DEFAULT_SLICE_US

JSON_KINDS = {list: "a list", str: "a string", int: "a number", float: "a number", bool: "true/false",
              type(None): "null"}


def check_meta_dict(d: object, where: str | Path, format_name: str, format_version: int) -> dict:
    """``d`` (parsed metadata JSON) if it is an r2etl model description with every number in
    range; else ModelError(where, "model metadata: KEY: PROBLEM")."""
    if not isinstance(d, dict):
        raise ModelError(where, f"model metadata is {JSON_KINDS.get(type(d), type(d).__name__)}, "
                                "expected a JSON object (not an r2etl model)")
    if d.get("format") != format_name:
        raise ModelError(where, "not an r2etl model (metadata has no r2etl format tag)")
    version = d.get("format_version", 0)
    try:
        version = check_whole("format_version", version, 0, 1_000_000)
    except InputError as exc:
        raise ModelError(where, f"model metadata: {exc}") from None
    if version > format_version:
        raise ModelError(where, f"model format {version} is newer than this r2etl understands")
    for key in ("model", "class_names"):
        if key not in d:
            raise ModelError(where, f"model metadata lacks '{key}'")
    try:
        _check_sections(d)
    except InputError as exc:
        raise ModelError(where, f"model metadata: {exc}") from None
    return d


def _table(d: dict, key: str, required: bool = False) -> dict:
    value = d.get(key, {} if not required else None)
    if not isinstance(value, dict):
        raise InputError(key, f"must be a JSON object, got {shown(value)}")
    return value


def _check_sections(d: dict) -> None:
    model = _table(d, "model", required=True)
    check_whole("model.num_classes", model.get("num_classes", 10), *limits.NUM_CLASSES)
    check_whole("model.input_size", model.get("input_size", 34), *limits.INPUT_SIZE, "pixels")
    check_whole("model.time_steps", model.get("time_steps", 10), *limits.TIME_STEPS)
    check_number("model.width", model.get("width", 1.0), *limits.WIDTH)
    if not isinstance(model.get("arch", ""), str):
        raise InputError("model.arch", f"must be a string, got {shown(model['arch'])}")
    names = d["class_names"]
    if not isinstance(names, list) or not all(isinstance(n, (str, int)) for n in names):
        raise InputError("class_names", f"must be a list of names, got {shown(names)}")
    slicing = _table(d, "slicing")
    mode = check_choice("slicing.mode", slicing.get("mode", "time"), limits.FRAME_MODES)
    if mode == "time":
        check_whole("slicing.slice_us", slicing.get("slice_us", DEFAULT_SLICE_US), *limits.SLICE_US, "us")
    else:
        check_whole("slicing.events_per_slice", slicing.get("events_per_slice", 0), *limits.EVENTS_PER_SLICE)
    for side in ("sensor_width", "sensor_height"):
        check_whole(f"slicing.{side}", slicing.get(side, 34), *limits.SENSOR_SIDE, "pixels")
    for key in ("normalisation", "training", "metrics"):
        _table(d, key)


def check_weights_finite(tensors: dict[str, torch.Tensor], where: str | Path) -> None:
    """ModelError when a floating-point weight holds NaN or Inf: such a model outputs NaN for
    every input, which would show as a confident, always-wrong class rather than an error."""
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ModelError(where, f"weights contain NaN/Inf values (first in {name}): the model "
                                    "file is corrupt or training diverged")
    for name, tensor in tensors.items():  # finite but absurd (x1e37): every forward overflows to Inf
        if tensor.is_floating_point() and tensor.numel() and float(tensor.abs().max()) > limits.WEIGHT_ABS_MAX:
            raise ModelError(where, f"weights up to {float(tensor.abs().max()):.3g} in {name}, beyond "
                                    f"{limits.WEIGHT_ABS_MAX:g} (trained ones stay below ~10): the model file is "
                                    "corrupt or training diverged")
