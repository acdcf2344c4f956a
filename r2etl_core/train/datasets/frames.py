"""Event sample -> ``[T, 2, S, S]`` count frames (split by time or by event count), and a disk cache.

Frames are binned by ``r2etl_core.stream.slicing``, as the engine bins a live stream: channel
0 = ON, channel 1 = OFF, the centred square of the sensor (``FrameSpec.centred``) scaled to the
model's S x S with counts divided by the pixels each output pixel gathers. Time slicing puts
frame k on ``[k * slice_us, (k + 1) * slice_us)`` from the recording's own t = 0
(``time_origin="zero"``, what the streaming viewer sees for N-MNIST) or from the first event
(``"first"``); events past ``T * slice_us`` are dropped. Count slicing splits the events into T
parts of (nearly) equal count.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from r2etl_core.errors import InputError
from r2etl_core.io.files import atomic_write
from r2etl_core.limits import check_frames_fit
from r2etl_core.stream.slicing import bin_steps_numpy
from r2etl_core.types import DEFAULT_SLICE_US, EventBatch, FrameSpec

# What a cached frame is made by; a new rule must not reuse frames made by the old one.
# 2: the engine's centred-square crop (rule 1 squashed a non-square sensor with cv2.INTER_AREA;
# square sensors give the same frames under both).
FRAME_RULE = 2


@dataclass(frozen=True)
class FrameParams:
    time_steps: int = 10
    mode: str = "time"  # "time" or "count"
    slice_us: int = DEFAULT_SLICE_US
    time_origin: str = "zero"  # "zero" (recording t=0) or "first" (first event)
    sensor_width: int = 34
    sensor_height: int = 34
    out_size: int = 34

    def __post_init__(self):
        if self.mode not in ("time", "count"):
            raise ValueError(f"frame mode must be 'time' or 'count', got {self.mode!r}")
        if self.time_origin not in ("zero", "first"):
            raise ValueError(f"time_origin must be 'zero' or 'first', got {self.time_origin!r}")
        if self.time_steps <= 0 or self.slice_us <= 0 or self.out_size <= 0:
            raise ValueError("time_steps, slice_us and out_size must be positive")


def _step_index(events: EventBatch, params: FrameParams) -> np.ndarray:
    n, t_steps = len(events), params.time_steps
    if params.mode == "count":
        return (np.arange(n, dtype=np.int64) * t_steps) // max(n, 1)
    origin = events.t_first_us if params.time_origin == "first" else 0
    return (events.t.astype(np.int64) - origin) // params.slice_us


def frame_spec(params: FrameParams) -> FrameSpec:
    """The engine's frame for this sensor and model size (``StreamEngine``'s default ROI)."""
    return FrameSpec.centred(params.sensor_width, params.sensor_height, params.out_size)


def events_to_frames(events: EventBatch, params: FrameParams) -> np.ndarray:
    """``[T, 2, S, S]`` float32 counts of the centred square, binned as the engine bins."""
    w, h, t_steps = params.sensor_width, params.sensor_height, params.time_steps
    k = _step_index(events, params)
    keep = (k >= 0) & (k < t_steps) & (events.x >= 0) & (events.x < w) & (events.y >= 0) & (events.y < h)
    inside = EventBatch(events.t[keep], events.x[keep], events.y[keep], events.p[keep], w, h)
    return bin_steps_numpy(inside, k[keep], t_steps, frame_spec(params))


def cache_key(params: FrameParams, root: Path, files: Sequence[Path], extra: str = "") -> str:
    """Hash of the frame rule and parameters and of every file's path, size and mtime."""
    h = hashlib.sha1(json.dumps(asdict(params), sort_keys=True).encode())
    h.update(f"rule {FRAME_RULE}".encode())
    h.update(extra.encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(root).as_posix()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def frames_for_files(files: Sequence[Path], root: Path, params: FrameParams,
                     reader: Callable[[Path], EventBatch], cache_dir: Path | None,
                     extra_key: str = "") -> np.ndarray:
    """``[N, T, 2, S, S]`` float16 frames of all ``files``, from ``cache_dir`` when present."""
    path = None
    if cache_dir is not None:
        key = cache_key(params, root, files, extra_key)
        path = Path(cache_dir) / f"frames-{key}.npy"
        if path.exists():
            return np.load(path, mmap_mode="r")
    shape = (len(files), params.time_steps, 2, params.out_size, params.out_size)
    parts = (np.minimum(events_to_frames(reader(f), params), 65504.0)[None] for f in files)
    if path is not None:
        return fill_cache(path, shape, np.float16, parts)
    check_frames_fit(len(files), params.time_steps, params.out_size, 2, "samples")
    out = np.empty(shape, np.float16)
    for i, part in enumerate(parts):
        out[i] = part[0]
    return out


def fill_cache(path: Path, shape: tuple[int, ...], dtype, parts: Iterable[np.ndarray]) -> np.ndarray:
    """Write ``parts`` (consecutive along the first axis) straight into the on-disk array ``path``
    and return it memory-mapped. The frames never sit in memory all at once: training reads a
    batch at a time (the datasets index lazily), so its memory is bounded by the batch, not the
    data. Written beside ``path`` and renamed: several processes (DDP ranks, parallel runs) may
    fill the same entry, and a half-written cache never replaces a good one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as tmp:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
            at = 0
            for part in parts:
                out[at:at + len(part)] = part
                at += len(part)
            out.flush()
            del out
    except OSError as exc:
        raise InputError(path.parent, f"cannot write the frame cache ({exc.strerror or type(exc).__name__}): "
                                      "free some disk space or point data.cache_dir elsewhere") from None
    return np.load(path, mmap_mode="r")
