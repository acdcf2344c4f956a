"""The one device picker of training, the streaming engine and ``r2etl doctor``."""

from __future__ import annotations

import torch

from r2etl_core.parse import check_device, cuda_available


def pick_device(requested: str | None = None, name: str = "--device") -> torch.device:
    """None or ``auto``: CUDA when present, else the CPU. ``cpu``, ``cuda`` or ``cuda:N``: that
    device, or an InputError naming ``name`` (the flag or config key) in one line when it does
    not exist here (never torch's own RuntimeError at the first tensor moved)."""
    if requested is None or requested.strip().lower() == "auto":
        return torch.device("cuda" if cuda_available() else "cpu")  # the one CUDA probe (no torch warnings)
    return torch.device(check_device(requested, name))


def device_name(device: torch.device) -> str:
    """``GPU: <name>`` or ``CPU (<n> threads)``, for the stats panel and summaries."""
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    n = torch.get_num_threads()
    return f"CPU ({n} thread{'s' if n > 1 else ''})"
