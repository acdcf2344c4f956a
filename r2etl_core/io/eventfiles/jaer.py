"""jAER / cAER AEDAT 2.0 and 3.1 (``.aedat``), read with numpy from the published format.

Written from iniVation's format description (docs.inivation.com, "AEDAT File Formats"):

- Both start with ``#`` header lines; the first is ``#!AER-DAT2.0`` or ``#!AER-DAT3.1``.
- 2.0: after the header, big-endian int32 address + int32 timestamp (us) pairs. The address
  layout is the AEChip's: DVS128 (x bits 1-7, y bits 8-14, polarity bit 0) or DAVIS (y bits
  22-30, x bits 12-21, polarity bit 11; bit 31 set = an APS sample, bit 10 set = IMU, both
  skipped). jAER puts (0, 0) at the lower left: rows are flipped to the top-left convention
  of every other input.
- 3.1: the header ends with ``#!END-HEADER``; then little-endian packets, each a 28-byte
  header (int16 type, int16 source, int32 event size, int32 timestamp offset, int32 timestamp
  overflow, int32 capacity, int32 number, int32 valid) and ``capacity * size`` bytes of events.
  Polarity packets (type 1) hold 8-byte events: uint32 data (bit 0 valid, bit 1 polarity,
  y bits 2-16, x bits 17-31) and int32 timestamp, extended by ``overflow << 31``. Other packet
  types (frames, IMU, special events) are skipped.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import numpy as np

from r2etl_core.errors import InputError
from r2etl_core.io.eventfiles._base import EventFileReader, make_batch
from r2etl_core.types import EventBatch

CHUNK_EVENTS = 1 << 18  # 2 MB of AEDAT 2.0 records per read
PACKET_HEADER = np.dtype([("type", "<i2"), ("source", "<i2"), ("size", "<i4"), ("ts_offset", "<i4"),
                          ("ts_overflow", "<i4"), ("capacity", "<i4"), ("number", "<i4"), ("valid", "<i4")])
POLARITY_EVENT = 1
_RECORD = np.dtype([("address", ">u4"), ("t", ">i4")])  # one AEDAT 2.0 event
_HEADER_MAX = 1 << 24
# jAER chip classes / cAER source names -> (AEDAT 2.0 address layout, sensor size); a DVXplorer
# appears as a 3.1 source only (its size is all that is used there)
_CHIPS = (("dvs128", "dvs128", (128, 128)), ("tmpdiff128", "dvs128", (128, 128)),
          ("davis346", "davis", (346, 260)), ("davis240", "davis", (240, 180)),
          ("davis640", "davis", (640, 480)), ("dvxplorer", "", (640, 480)))


def read_hash_header(path: Path) -> tuple[list[str], int]:
    """The ``#`` header lines (without '#' and line ends) and the offset of the first data byte."""
    lines: list[str] = []
    with open(path, "rb") as f:
        while True:
            start = f.tell()
            line = f.readline()
            if not line.startswith(b"#") or start > _HEADER_MAX:
                return lines, start
            lines.append(line[1:].rstrip(b"\r\n").decode("latin-1"))
            if line.startswith(b"#!END-HEADER"):
                return lines, f.tell()
            if not line.endswith(b"\n"):  # the file ends inside its header
                return lines, f.tell()


def _chip(name: str) -> tuple[str, tuple[int, int]] | None:
    lowered = name.lower()
    for key, layout, size in _CHIPS:
        if key in lowered:
            return layout, size
    return None


class Aedat2Reader(EventFileReader):
    """jAER AEDAT 2.0 of a DVS128 or DAVIS chip (named by its ``# AEChip:`` header line)."""

    what = "AEDAT 2.0 file"
    format_name = "jAER AEDAT 2.0"

    def _open(self) -> None:
        lines, self._data_start = read_hash_header(self.path)
        chips = [line.split(":", 1)[1].strip() for line in lines if line.strip().startswith("AEChip:")]
        chip = _chip(chips[0]) if chips else None
        if chip is None or not chip[0]:
            named = f"AEChip {chips[0]!r}" if chips else "no '# AEChip:' header line"
            raise InputError(self.path, f"{named}: only DVS128 and DAVIS recordings are supported")
        self._layout, self._size = chip
        self._camera = chips[0].rsplit(".", 1)[-1]
        body = self.path.stat().st_size - self._data_start
        if body % 8:
            raise InputError(self.path, f"truncated AEDAT 2.0 file: {body} data bytes is not a multiple of 8 "
                                        "(int32 address + int32 timestamp per event)")
        self._records = body // 8

    def _timestamp_at(self, f, index: int) -> int:
        f.seek(self._data_start + 8 * index + 4)
        return int(np.frombuffer(f.read(4), ">i4")[0])

    def _first_record_at(self, f, start_us: int) -> int:
        """Binary search over the records' timestamps (monotonic, as the format guarantees)."""
        lo, hi = 0, self._records
        while lo < hi:
            mid = (lo + hi) // 2
            if self._timestamp_at(f, mid) < start_us:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def _decode(self, start_us: int | None) -> Iterator[EventBatch]:
        with open(self.path, "rb") as f:
            index = 0 if start_us is None else max(0, self._first_record_at(f, start_us) - 1)
            while index < self._records:
                count = min(CHUNK_EVENTS, self._records - index)
                f.seek(self._data_start + 8 * index)
                data = np.frombuffer(f.read(8 * count), _RECORD)
                index += count
                yield self._events(data["address"], data["t"])

    def _events(self, address: np.ndarray, t: np.ndarray) -> EventBatch:
        height = self._size[1]
        if self._layout == "dvs128":
            keep = (address & 0x8000) == 0  # bit 15: an external (trigger) event
            x, y, p = (address >> 1) & 0x7F, (address >> 8) & 0x7F, address & 1
        else:
            keep = (address & 0x80000400) == 0
            x, y, p = (address >> 12) & 0x3FF, (address >> 22) & 0x1FF, (address >> 11) & 1
        x, y, p, t = x[keep], y[keep], p[keep], t[keep]
        return make_batch(t, x, (height - 1) - y.astype(np.int32), p, 0, 0)


class Aedat31Reader(EventFileReader):
    """cAER AEDAT 3.1: polarity packets of its first source (sensor size from ``#Source``)."""

    what = "AEDAT 3.1 file"
    format_name = "cAER AEDAT 3.1"

    def _open(self) -> None:
        lines, self._data_start = read_hash_header(self.path)
        if not any(line.startswith("!END-HEADER") for line in lines):
            raise InputError(self.path, "truncated AEDAT 3.1 file: its header has no '#!END-HEADER' line")
        sources = [m.group(1) for line in lines if (m := re.match(r"Source \d+:\s*(.+)", line.strip()))]
        chip = _chip(sources[0]) if sources else None
        self._size = chip[1] if chip else None
        self._camera = sources[0] if sources else ""
        self._index = self._packet_index()

    def _packet_index(self) -> list[tuple[int, int, int, int]]:
        """(offset of the events, event count, first timestamp, timestamp overflow) of every
        polarity packet: where ``batches(start_us)`` starts reading."""
        index, size = [], self.path.stat().st_size
        with open(self.path, "rb") as f:
            offset = self._data_start
            while offset < size:
                f.seek(offset)
                raw = f.read(PACKET_HEADER.itemsize)
                if len(raw) < PACKET_HEADER.itemsize:
                    raise InputError(self.path, f"truncated AEDAT 3.1 file: a packet header at byte {offset:,} "
                                                "is cut short")
                head = np.frombuffer(raw, PACKET_HEADER)[0]
                body = int(head["capacity"]) * int(head["size"])
                if head["size"] <= 0 or head["capacity"] < 0 or not 0 <= head["number"] <= head["capacity"] \
                        or offset + PACKET_HEADER.itemsize + body > size:
                    raise InputError(self.path, f"corrupt or truncated AEDAT 3.1 packet at byte {offset:,}")
                start = offset + PACKET_HEADER.itemsize
                if head["type"] == POLARITY_EVENT and head["number"] > 0:
                    if head["size"] != 8:
                        raise InputError(self.path, f"polarity packet at byte {offset:,} has {int(head['size'])}"
                                                    "-byte events (expected 8)")
                    f.seek(start + 4)
                    t0 = int(np.frombuffer(f.read(4), "<i4")[0]) | (int(head["ts_overflow"]) << 31)
                    index.append((start, int(head["number"]), t0, int(head["ts_overflow"])))
                offset = start + body
        return index

    def _decode(self, start_us: int | None) -> Iterator[EventBatch]:
        first = 0
        if start_us is not None:
            starts = [t0 for _, _, t0, _ in self._index]
            first = max(0, int(np.searchsorted(starts, start_us, side="right")) - 1)
        with open(self.path, "rb") as f:
            for offset, number, _, overflow in self._index[first:]:
                f.seek(offset)
                data = np.frombuffer(f.read(8 * number), "<u4").reshape(-1, 2)
                word = data[:, 0]
                keep = (word & 1) == 1
                t = data[keep, 1].view(np.int32).astype(np.int64) | (overflow << 31)
                word = word[keep]
                yield make_batch(t, (word >> 17) & 0x7FFF, (word >> 2) & 0x7FFF, (word >> 1) & 1, 0, 0)
