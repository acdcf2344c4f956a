"""Colours shared by the views: event polarity and one colour per class."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

# Row-major images everywhere: arrays are [rows=y, cols=x(, rgb)] like the sensor frames.
pg.setConfigOptions(imageAxisOrder="row-major", antialias=False, background="#101318",
                    foreground="#d8dde6")

BACKGROUND_RGB = np.array([16, 19, 24], np.float32)
ON_RGB = np.array([90, 235, 255], np.float32)  # ON = bright cyan
OFF_RGB = np.array([255, 60, 160], np.float32)  # OFF = magenta

# the colours of classes, "unknown" and "nothing there": one rule in the core, for every view
# and for `r2etl classify --plot`
from r2etl_core.stream.colours import (  # noqa: E402,F401
    CLASS_RGB,
    NO_DATA_RGB,
    UNDECIDED_RGB,
    UNKNOWN_HEX,
    UNKNOWN_RGB,
    class_rgb,
)


def polarity_rgb(frame: np.ndarray, full_at: float = 2.0) -> np.ndarray:
    """``[2, H, W]`` ON/OFF counts -> ``[H, W, 3]`` uint8; ``full_at`` counts saturate a pixel.
    Pixels with both polarities mix towards white."""
    on = np.clip(frame[0].astype(np.float32) * (1.0 / full_at), 0.0, 1.0)[..., None]
    off = np.clip(frame[1].astype(np.float32) * (1.0 / full_at), 0.0, 1.0)[..., None]
    rgb = BACKGROUND_RGB + on * (ON_RGB - BACKGROUND_RGB) + off * (OFF_RGB - BACKGROUND_RGB)
    return np.clip(rgb, 0, 255).astype(np.uint8)


LEVELS = 16  # display levels per polarity: index = on_level * LEVELS + off_level


def polarity_lut() -> np.ndarray:
    """``[256, 3]`` uint8 colours for ``polarity_index`` images (same mix as polarity_rgb)."""
    level = np.arange(LEVELS, dtype=np.float32) / (LEVELS - 1)
    on, off = np.meshgrid(level, level, indexing="ij")
    frame = np.stack([on.ravel(), off.ravel()])[:, None, :]  # [2, 1, 256] as a "frame"
    return polarity_rgb(frame, full_at=1.0)[0]


def polarity_overlay_lut() -> np.ndarray:
    """``[256, 4]`` RGBA for ``polarity_index`` images drawn over a camera frame: no events is
    see-through, and few events are faint instead of dark (a dark mix would hide the frame)."""
    level = np.arange(LEVELS, dtype=np.float32) / (LEVELS - 1)
    on, off = np.meshgrid(level, level, indexing="ij")
    peak = np.maximum(on, off)
    scale = np.where(peak > 0, 1.0 / np.maximum(peak, 1e-6), 0.0)
    frame = np.stack([(on * scale).ravel(), (off * scale).ravel()])[:, None, :]
    rgb = polarity_rgb(frame, full_at=1.0)[0]
    alpha = np.where(peak > 0, 90 + 165 * peak, 0).ravel().astype(np.uint8)
    return np.concatenate([rgb, alpha[:, None]], axis=1)


def polarity_index(frame: np.ndarray, full_at: float = 2.0) -> np.ndarray:
    """``[2, H, W]`` counts -> ``[H, W]`` uint8 indices into ``polarity_lut()``: a quarter of
    the bytes of RGB and no float colour maths per pixel on the GUI thread."""
    scale = (LEVELS - 1) / full_at
    on = np.minimum(frame[0] * scale + 0.5, LEVELS - 1).astype(np.uint8)
    off = np.minimum(frame[1] * scale + 0.5, LEVELS - 1).astype(np.uint8)
    return on * np.uint8(LEVELS) + off
