"""Numpy decoder for the CIFAR10-DVS release files (``.aedat``, jAER AER-DAT 2.0 style).

Supported: the layout used by the official CIFAR10-DVS release (Li et al. 2017, figshare),
which its own header calls ``#!AER-DAT2.0``/AEDAT 3.1-era jAER output: ASCII header lines that
start with ``#``, then big-endian ``uint32`` pairs ``(address, timestamp_us)``. Address bits of
the 128x128 DVS: bit 0 = polarity, bits 1-7 = x, bits 8-14 = y. The sensor was mounted rotated,
so (as the reference loaders do) we map ``x_out = 127 - y``, ``y_out = 127 - x`` and invert the
polarity bit (1 = ON afterwards). Not supported: AEDAT 3.x packet-framed files (``#!AER-DAT3``
with event-type headers) and AEDAT 4 (flatbuffers; read those with dv-processing).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from r2etl_core.errors import InputError
from r2etl_core.io.files import check_input_file
from r2etl_core.types import EventBatch

CIFAR10DVS_SIZE = 128


def _header_length(raw: bytes) -> int:
    pos = 0
    while pos < len(raw) and raw[pos:pos + 1] == b"#":
        end = raw.find(b"\n", pos)
        if end < 0:
            return len(raw)
        pos = end + 1
    return pos


def decode_cifar10dvs(raw: bytes, where: str | Path = "<bytes>") -> EventBatch:
    """Decode the bytes of one CIFAR10-DVS ``.aedat`` file into time-sorted events."""
    if raw.startswith(b"#!AER-DAT3") or raw.startswith(b"#!AER-DAT4"):
        raise InputError(where, "AEDAT 3/4 packet files are not supported here (expected the "
                                "CIFAR10-DVS release format: '#' header + big-endian address/timestamp pairs)")
    body = raw[_header_length(raw):]
    if len(body) % 8:
        raise InputError(where, f"corrupt .aedat file: {len(body)} data bytes is not a multiple of 8 "
                                "(4-byte address + 4-byte timestamp per event)")
    data = np.frombuffer(body, dtype=">u4").reshape(-1, 2)
    addr = data[:, 0].astype(np.int64)
    t = data[:, 1].astype(np.int64)
    if addr.size and addr.max() >> 15:
        raise InputError(where, "corrupt .aedat file: addresses use bits above 14 "
                                "(not a 128x128 DVS recording as in CIFAR10-DVS)")
    raw_x = (addr & 0xFE) >> 1
    raw_y = (addr & 0x7F00) >> 8
    x = (CIFAR10DVS_SIZE - 1 - raw_y).astype(np.int16)
    y = (CIFAR10DVS_SIZE - 1 - raw_x).astype(np.int16)
    p = (1 - (addr & 1)).astype(np.int8)
    if t.size > 1 and np.any(np.diff(t) < 0):
        order = np.argsort(t, kind="stable")
        t, x, y, p = t[order], x[order], y[order], p[order]
    return EventBatch(t, x, y, p, CIFAR10DVS_SIZE, CIFAR10DVS_SIZE)


def read_cifar10dvs(path: str | Path) -> EventBatch:
    path = check_input_file(path, "CIFAR10-DVS .aedat file")
    return decode_cifar10dvs(path.read_bytes(), path)


def encode_cifar10dvs(events: EventBatch, header: str = "#!AER-DAT2.0\n# test file\n") -> bytes:
    """Inverse of ``decode_cifar10dvs`` (tests and tools)."""
    raw_y = CIFAR10DVS_SIZE - 1 - events.x.astype(np.int64)
    raw_x = CIFAR10DVS_SIZE - 1 - events.y.astype(np.int64)
    addr = (raw_y << 8) | (raw_x << 1) | (1 - events.p.astype(np.int64))
    data = np.stack([addr, events.t.astype(np.int64)], axis=1).astype(">u4")
    return header.encode() + data.tobytes()
