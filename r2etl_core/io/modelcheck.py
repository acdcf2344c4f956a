"""Checks of a model file's weights once read, before a network is run with them.

A model file comes from anywhere (a download, a half-copied run, a diverged training), so a
weight that is NaN, Inf or absurdly large is a ``ModelError`` naming the file and the tensor.
Its metadata is checked where it is described: ``r2etl_core.nn.meta``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from r2etl_core import limits
from r2etl_core.errors import ModelError


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
