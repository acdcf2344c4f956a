"""Decoded events kept on disk: a format that is slow to decode is decoded once.

A CSV file that does not state its sensor size is decoded in full when it opens (to find its
largest pixel); the ``Spill`` keeps what that pass decoded in an anonymous temporary file
(13 bytes per event, deleted when closed or when the process ends), so reading and seeking
afterwards cost a binary read instead of a second text parse. Never the whole file in memory.
"""

from __future__ import annotations

import tempfile
from typing import Iterator

import numpy as np

from r2etl_core.types import EventBatch

RECORD = np.dtype([("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "i1")])
CHUNK_EVENTS = 1 << 18


class Spill:
    """Append time-ordered batches once (``append``, then ``finish``), read them back from any
    time (``batches``). One thread at a time."""

    def __init__(self):
        self._file = tempfile.TemporaryFile(prefix="r2etl-events-")
        self.count = 0
        self.complete = False  # every event of the file was appended

    def append(self, batch: EventBatch) -> None:
        records = np.empty(len(batch), RECORD)
        records["t"], records["x"], records["y"], records["p"] = batch.t, batch.x, batch.y, batch.p
        self._file.seek(self.count * RECORD.itemsize)
        self._file.write(records.tobytes())
        self.count += len(batch)

    def finish(self) -> None:
        self._file.flush()
        self.complete = True

    def _read(self, index: int, n: int) -> np.ndarray:
        self._file.seek(index * RECORD.itemsize)
        return np.frombuffer(self._file.read(n * RECORD.itemsize), RECORD)

    def _first_at(self, start_us: int) -> int:
        """Index of the first event at or after ``start_us`` (binary search, a read per step)."""
        lo, hi = 0, self.count
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (mid + 1, hi) if int(self._read(mid, 1)["t"][0]) < start_us else (lo, mid)
        return lo

    def batches(self, start_us: int | None) -> Iterator[EventBatch]:
        index = 0 if start_us is None else self._first_at(start_us)
        while index < self.count:
            r = self._read(index, min(CHUNK_EVENTS, self.count - index))
            index += len(r)
            yield EventBatch(r["t"].copy(), r["x"].copy(), r["y"].copy(), r["p"].copy(), 0, 0)

    def close(self) -> None:
        self._file.close()
