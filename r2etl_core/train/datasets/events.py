"""Event (target-domain) datasets from local class folders: N-MNIST, N-Caltech101, CIFAR10-DVS.

Each sample becomes ``[T, 2, S, S]`` frames (see ``frames.py``), cached on disk when a cache
folder is given. Nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

from r2etl_core.errors import InputError
from r2etl_core.io.nmnist import read_bin
from r2etl_core.train.datasets.aedat import read_cifar10dvs
from r2etl_core.train.datasets.folders import ClassFiles, layout_error, scan_class_folders
from r2etl_core.train.datasets.frames import FrameParams, frames_for_files
from r2etl_core.types import EventBatch

# kind -> (file suffixes, sensor (width, height) used for framing, reader)
ATIS_SIZE = (304, 240)  # N-Caltech101 is recorded on an ATIS; coordinates are checked against it
EVENT_KINDS: dict[str, tuple[tuple[str, ...], tuple[int, int], Callable[[Path], EventBatch]]] = {
    "nmnist": ((".bin",), (34, 34), partial(read_bin, width=34, height=34)),
    "ncaltech101": ((".bin",), (240, 180), partial(read_bin, width=ATIS_SIZE[0], height=ATIS_SIZE[1])),
    "cifar10dvs": ((".aedat",), (128, 128), read_cifar10dvs),
}


@dataclass(frozen=True)
class EventSet:
    """``frames`` float16 ``[N, T, 2, S, S]`` (possibly memory-mapped); ``paths`` relative to the root."""

    frames: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    paths: tuple[str, ...]

    def subset(self, keep: np.ndarray | list[int]) -> "EventSet":
        keep = np.asarray(keep, dtype=np.int64)
        return EventSet(self.frames[keep], self.labels[keep], self.class_names,
                        tuple(self.paths[i] for i in keep))

    def __len__(self) -> int:
        return len(self.labels)


def check_kind(kind: str) -> None:
    if kind not in EVENT_KINDS:
        raise InputError(kind, f"unknown event dataset kind; known: {sorted(EVENT_KINDS)}")


def sensor_size(kind: str) -> tuple[int, int]:
    check_kind(kind)
    return EVENT_KINDS[kind][1]


def scan_event_folders(kind: str, root: str | Path) -> ClassFiles:
    check_kind(kind)
    return scan_class_folders(root, EVENT_KINDS[kind][0], kind)


def load_event_set(kind: str, files: ClassFiles, params: FrameParams, cache_dir: str | Path | None,
                   only: list[str] | None = None) -> EventSet:
    """Frames of every file in ``files`` (or of the relative paths in ``only``)."""
    check_kind(kind)
    _, (w, h), reader = EVENT_KINDS[kind]
    if (params.sensor_width, params.sensor_height) != (w, h):
        raise ValueError(f"{kind} frames need sensor {w}x{h}, got {params.sensor_width}x{params.sensor_height}")
    index = range(len(files.files))
    if only is not None:
        pos = {files.relative(i): i for i in index}
        unknown = [p for p in only if p not in pos]
        if unknown:
            raise layout_error(files.root, kind, f"{len(unknown)} listed samples not found, e.g. {unknown[0]}")
        index = [pos[p] for p in only]
    chosen = [files.files[i] for i in index]
    frames = frames_for_files(chosen, files.root, params, reader,
                              Path(cache_dir) if cache_dir else None, extra_key=kind)
    labels = np.asarray([files.labels[i] for i in index], np.int64)
    return EventSet(frames, labels, files.class_names, tuple(files.relative(i) for i in index))


def default_frame_params(kind: str, time_steps: int, out_size: int, mode: str, slice_us: int,
                         time_origin: str = "zero") -> FrameParams:
    w, h = sensor_size(kind)
    return FrameParams(time_steps, mode, slice_us, time_origin, w, h, out_size)
