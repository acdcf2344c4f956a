"""Prophesee ``.raw`` (EVT 2.0 / 3.0) and ``.dat``, Event Stream ``.es`` and ``.csv``, through faery.

faery 0.7.1 facts this module works around (checked by tests/test_eventfiles.py):

- EVT 2.1 is "not yet implemented": a Rust panic (a ``BaseException``). The header is read
  here first and EVT 2.1 refused with one line; ``native_guard`` catches any other panic.
- It refuses coordinates beyond the size it is given and, without a size in the header, assumes
  1280x720. Files that do not state a size are decoded with the largest size and the sensor is
  inferred from the events (``_base.infer_sensor_size``).
- Its high-level reader refuses ``.dat`` files of the generic "2d" event type (N-CARS), which
  are CD events by another name: those are read with its low-level ``dat.Decoder``.
- It cannot start a file in the middle: ``batches(start_us)`` decodes from the beginning.
- On EVT 3 it nudges timestamps that go backwards forward (<= 11 us seen on a real file) to keep
  them monotonic; in a CSV file an earlier timestamp becomes the previous one. Such files play
  (slightly retimed) instead of being refused by the time-order check of ``_base``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import faery

from r2etl_core.errors import InputError
from r2etl_core.io.eventfiles._base import EventFileReader, make_batch, native_guard
from r2etl_core.io.eventfiles.spill import Spill
from r2etl_core.parse import shown
from r2etl_core.types import EventBatch

_ANY_SIZE = (65535, 65535)  # decode without a size limit; the sensor is then inferred
_HEADER_MAX = 1 << 20
# Prophesee camera plugins whose sensor size a RAW header implies without stating it.
_PLUGIN_SIZES = {"gen3": (640, 480), "gen31": (640, 480), "gen4": (1280, 720), "gen41": (1280, 720),
                 "imx636": (1280, 720), "genx320": (320, 320)}


def percent_header(path: Path) -> dict[str, str]:
    """The ``% key value`` lines at the top of a Prophesee file, keys in lower case."""
    fields: dict[str, str] = {}
    with open(path, "rb") as f:
        while f.tell() < _HEADER_MAX:
            line = f.readline()
            if not line.startswith(b"%"):
                break
            key, _, value = line[1:].decode("latin-1").strip().partition(" ")
            if key.lower() == "end":
                break
            fields[key.lower()] = value.strip()
    return fields


def _raw_version(fields: dict[str, str], path: Path) -> str:
    fmt = fields.get("format", "").split(";")[0].strip().upper()
    evt = fields.get("evt", "").strip()
    if fmt == "EVT21" or evt == "2.1":
        raise InputError(path, "EVT 2.1 .raw files are not supported (only EVT 2.0 and 3.0): convert it to "
                               "EVT 3.0 with Prophesee's tools, or to .aedat4")
    if fmt == "EVT2" or evt == "2.0":
        return "evt2"
    if fmt == "EVT3" or evt == "3.0":
        return "evt3"
    if not (fmt or evt):
        raise InputError(path, "not a Prophesee RAW file: its header names no event format ('% evt 2.0' "
                               "or '% format EVT3;...')")
    raise InputError(path, f"Prophesee RAW with event format {shown(fmt or evt, 30)}: only EVT 2.0 and 3.0 "
                           "are supported")


def _raw_size(fields: dict[str, str]) -> tuple[int, int] | None:
    fmt = dict(part.split("=", 1) for part in fields.get("format", "").split(";")[1:] if "=" in part)
    if "width" in fmt and "height" in fmt:
        return int(fmt["width"]), int(fmt["height"])
    match = re.fullmatch(r"(\d+)x(\d+)", fields.get("geometry", ""))
    if match:
        return int(match.group(1)), int(match.group(2))
    plugin = fields.get("plugin_name", "") + " " + fields.get("sensor_generation", "")
    for name, size in _PLUGIN_SIZES.items():
        if re.search(rf"(^|[_ ]){name}($|[_ ])", plugin.lower()):
            return size
    return None


class RawReader(EventFileReader):
    """Prophesee ``.raw``, EVT 2.0 or 3.0 (the version and size from its ``%`` header)."""

    what = "Prophesee RAW file"

    def _open(self) -> None:
        fields = percent_header(self.path)
        self._version = _raw_version(fields, self.path)
        self.format_name = f"Prophesee RAW (EVT {'2.0' if self._version == 'evt2' else '3.0'})"
        self._size = _raw_size(fields)
        self._camera = " ".join(v for v in (fields.get("integrator_name"), fields.get("plugin_name")) if v)

    def _decode(self, start_us: int | None) -> Iterator[EventBatch]:
        stream = faery.events_stream_from_file(self.path, dimensions_fallback=self._size or _ANY_SIZE,
                                               version_fallback=self._version)
        for ev in stream:
            yield make_batch(ev["t"], ev["x"], ev["y"], ev["on"], 0, 0)


class DatReader(EventFileReader):
    """Prophesee ``.dat`` (DAT 1/2) of CD or generic 2D events."""

    what = "Prophesee DAT file"
    format_name = "Prophesee DAT"

    def _open(self) -> None:
        fields = percent_header(self.path)
        if "width" in fields and "height" in fields:
            self._size = (int(fields["width"]), int(fields["height"]))
        with faery.dat.Decoder(self.path, self._size or _ANY_SIZE, None) as decoder:
            if decoder.event_type not in ("cd", "2d"):
                raise InputError(self.path, f"holds {decoder.event_type} events, not camera (CD) events")
            self.format_name = f"Prophesee DAT ({decoder.version.upper()}, {decoder.event_type.upper()} events)"

    def _decode(self, start_us: int | None) -> Iterator[EventBatch]:
        with faery.dat.Decoder(self.path, self._size or _ANY_SIZE, None) as decoder:
            for ev in decoder:
                yield make_batch(ev["t"], ev["x"], ev["y"], ev["payload"], 0, 0)


class EsReader(EventFileReader):
    """Event Stream ``.es`` (DVS or ATIS events; ATIS exposure measurements are skipped)."""

    what = "Event Stream (.es) file"

    def _open(self) -> None:
        self._stream = faery.events_stream_from_file(self.path)  # raises on other event types
        self._size = tuple(self._stream.dimensions())
        self.format_name = f"Event Stream ({self._stream.event_type.upper()})"

    def _decode(self, start_us: int | None) -> Iterator[EventBatch]:
        for ev in self._stream:
            yield make_batch(ev["t"], ev["x"], ev["y"], ev["on"], 0, 0)


_CSV_NAMES = {"t": ("t", "ts", "timestamp", "time", "t_us"), "x": ("x",), "y": ("y",),
              "p": ("p", "on", "pol", "polarity")}


def _csv_columns(first_line: str, path: Path) -> tuple[bool, dict[str, int], tuple[int, int] | None]:
    """(has a header, column of t/x/y/p, size from faery's ``x@W,y@H`` header names)."""
    cells = [c.strip().lower() for c in first_line.strip().split(",")]
    if all(re.fullmatch(r"-?\d+", c) for c in cells):
        if len(cells) < 4:
            raise InputError(path, "CSV events need 4 columns t,x,y,p (t in us, p 1 = ON, 0 = OFF)")
        return False, {"t": 0, "x": 1, "y": 2, "p": 3}, None
    names = [c.split("@")[0] for c in cells]
    columns = {}
    for key, options in _CSV_NAMES.items():
        found = [i for i, name in enumerate(names) if name in options]
        if not found:
            raise InputError(path, f"CSV header {shown(first_line.strip(), 50)} has no {key} column "
                                   "(expected t,x,y,p with t in us and p 1 = ON, 0 = OFF)")
        columns[key] = found[0]
    sizes = [c.split("@")[1] for c in cells if "@" in c]
    size = (int(sizes[0]), int(sizes[1])) if len(sizes) == 2 and all(s.isdigit() for s in sizes) else None
    return True, columns, size


class CsvReader(EventFileReader):
    """``.csv`` of ``t,x,y,p`` rows (t in us; p 1 = ON, 0 = OFF), with or without a header.

    Text is the slowest format to decode: a file stating its size (faery's ``x@W,y@H`` header)
    opens from its first and last lines; any other is decoded once at open into a ``Spill``
    that every later read and seek uses."""

    what = "CSV event file"
    format_name = "CSV"

    def _open(self) -> None:
        with open(self.path, "rb") as f:
            head = f.readline(4096)
        try:
            first = head.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(self.path, "not a CSV text file (its first line is not UTF-8 text)") from None
        self._header, self._columns, self._size = _csv_columns(first, self.path)
        # without a stated size, the opening scan decodes every row: keep them (spill.py)
        self._spill = Spill() if self._size is None else None

    def _time_span(self) -> tuple[int, int] | None:
        """The first data row's and the last row's t: a CSV file with faery's ``x@W,y@H`` header
        opens without being read twice (CSV is the slowest format to decode)."""
        with native_guard(self.path, self.what), open(self.path, "rb") as f:
            lines = f.read(4096).splitlines()[1 if self._header else 0:]
            f.seek(max(0, f.seek(0, 2) - 4096))
            tail = [line for line in f.read().splitlines() if line.strip()]
            if not lines or not tail:
                return None
            t = self._columns["t"]
            first, last = int(lines[0].split(b",")[t]), int(tail[-1].split(b",")[t])
        return (first, last) if first <= last else None

    def _decode(self, start_us: int | None) -> Iterator[EventBatch]:
        spill = self._spill
        if spill is not None and spill.complete:
            yield from spill.batches(start_us)
            return
        for batch in self._parse():
            if spill is not None:  # only the opening scan gets here with a spill
                spill.append(batch)
            yield batch
        if spill is not None:
            spill.finish()

    def close(self) -> None:
        if getattr(self, "_spill", None) is not None:
            self._spill.close()

    def _parse(self) -> Iterator[EventBatch]:
        c = self._columns
        props = faery.CsvProperties(has_header=self._header, separator=b",", t_index=c["t"], x_index=c["x"],
                                    y_index=c["y"], on_index=c["p"], t_scale=0.0, on_value=b"1",
                                    off_value=b"0", skip_errors=False)
        stream = faery.events_stream_from_file(self.path, dimensions_fallback=self._size or _ANY_SIZE,
                                               csv_properties=props, file_type="csv")
        for ev in stream:
            yield make_batch(ev["t"], ev["x"], ev["y"], ev["on"], 0, 0)
