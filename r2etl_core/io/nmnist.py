"""Readers for small event file formats that need no dv-processing: N-MNIST / N-Caltech101 ``.bin``.

``.bin`` layout (official N-MNIST / N-Caltech101 release): 5 bytes per event, big-endian bit
fields: byte0 = x, byte1 = y, bit 7 of byte2 = polarity (1 = ON), the remaining 23 bits
(byte2 & 0x7F, byte3, byte4) = timestamp in microseconds.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np

from r2etl_core.errors import InputError
from r2etl_core.io.files import check_input_file, path_stat
from r2etl_core.types import EventBatch

NMNIST_SIZE = (34, 34)


def decode_bin(raw: np.ndarray, width: int, height: int, where: str | Path) -> EventBatch:
    """Decode ``.bin`` bytes; ``width``/``height`` is the sensor, checked for every event."""
    if raw.size % 5:
        raise InputError(where, f"corrupt .bin file: {raw.size} bytes is not a multiple of 5 (5 bytes per event)")
    ev = raw.reshape(-1, 5)
    x = ev[:, 0].astype(np.int16)
    y = ev[:, 1].astype(np.int16)
    p = (ev[:, 2] >> 7).astype(np.int8)
    t = ((ev[:, 2].astype(np.int64) & 0x7F) << 16) | (ev[:, 3].astype(np.int64) << 8) | ev[:, 4]
    if len(ev) and (int(x.max()) >= width or int(y.max()) >= height):
        raise InputError(where, f"corrupt .bin file: event at x={int(x.max())}, y={int(y.max())} "
                                f"is outside the {width}x{height} sensor")
    if len(t) > 1 and np.any(np.diff(t) < 0):
        order = np.argsort(t, kind="stable")
        t, x, y, p = t[order], x[order], y[order], p[order]
    return EventBatch(t, x, y, p, width, height)


def read_bin(path: str | Path, width: int = NMNIST_SIZE[0], height: int = NMNIST_SIZE[1]) -> EventBatch:
    """Read one ``.bin`` sample. N-Caltech101 samples need their sensor size (e.g. 240x180)."""
    path = check_input_file(path, ".bin event file")
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0:
        raise InputError(path, "file is empty (no events)")
    return decode_bin(raw, width, height, path)


def write_bin(path: str | Path, events: EventBatch) -> None:
    """Write events in the N-MNIST ``.bin`` layout (tests and tools)."""
    t = events.t.astype(np.int64)
    if len(t) and (t.min() < 0 or t.max() >= 1 << 23):
        raise ValueError("timestamps must fit 23 bits for the .bin format")
    out = np.empty((len(t), 5), np.uint8)
    out[:, 0] = events.x
    out[:, 1] = events.y
    out[:, 2] = ((events.p.astype(np.int64) & 1) << 7) | ((t >> 16) & 0x7F)
    out[:, 3] = (t >> 8) & 0xFF
    out[:, 4] = t & 0xFF
    out.tofile(path)


def find_nmnist_samples(path: str | Path) -> list[tuple[Path, str]]:
    """``(file, label)`` of one .bin, a folder of them, or a folder of class folders. The label
    is the class folder's name (a digit); samples are ordered by file name, mixing classes."""
    path = Path(path)
    found = path_stat(path, "N-MNIST input")
    if found is None:
        raise InputError(path, "not found")
    if not stat.S_ISDIR(found.st_mode):  # a pipe named x.bin is named as such, never opened
        check_input_file(path, "event sample (.bin)")
        return [(path, path.parent.name if path.parent.name.isdigit() else "")]
    files = sorted([*path.glob("*.bin"), *path.glob("*/*.bin")])  # not deeper: a home folder is big
    seen: set[str] = set()  # a link loop (again -> .) lists a file twice: keep it once
    files = [f for f in files if not (os.path.realpath(f) in seen or seen.add(os.path.realpath(f)))]
    samples = [(f, f.parent.name if f.parent != path or path.name.isdigit() else "")
               for f in files if f.is_file()]
    if not samples:
        raise InputError(path, "no .bin event samples in this folder (expected N-MNIST files)")
    return sorted(samples, key=lambda item: (item[0].name, item[1]))
