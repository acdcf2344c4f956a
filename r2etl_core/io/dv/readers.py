"""Reading events with dv-processing: .aedat4 files, cameras, network streams.

Everything leaving this module is our own type (``EventBatch``, ``RecordingInfo``) or one of our
errors. dv-processing 2.0.4 facts this module works around (checked by tests/test_dvio.py):

- Its exceptions are C++ texts with a source path and a stack trace: ``_dv_reason`` keeps the
  one useful line, and every failure a user can cause becomes ``InputError``/``NoCameraError``.
- ``camera.open()`` with no camera attached raises a bare C++ ``IndexError``: discover first.
- ``getEventsTimeRange`` needs the file's data table; files without one (e.g. trimmed copies)
  are read sequentially.
- It freezes the whole process (GIL held) on a packet that does not decompress: ``guard`` checks
  every file first and lets dv read only the packets before the first damaged one.

Live inputs are polled by ``live.LiveReader``; ``open_camera`` is here, beside the discovery
calls that tests patch.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import dv_processing as dv

from r2etl_core.io.files import check_input_file
from r2etl_core.errors import InputError, NoCameraError
from r2etl_core.io.dv._common import (
    _COUNT_EVENTS_MAX_BYTES,
    _WINDOW_US,
    AEDAT4_MAGIC,
    NO_CAMERA_MESSAGE,
    _dv_reason,
    from_event_store,
    sensor_size_for,
)
from r2etl_core.io.dv.checked import CheckedFile
from r2etl_core.io.dv.live import LIVE_FRAMES_KEPT, LiveReader  # noqa: F401 (tests read LIVE_FRAMES_KEPT here)
from r2etl_core.types import EventBatch

# ---------------------------------------------------------------- reading .aedat4 files

@dataclass(frozen=True)
class RecordingInfo:
    path: Path
    camera: str
    width: int
    height: int
    t_first_us: int  # first event timestamp (absolute, as in the file)
    t_last_us: int  # last event timestamp
    event_count: int | None  # None when too costly to count at open

    @property
    def duration_us(self) -> int:
        return self.t_last_us - self.t_first_us


def aedat_header_problem(head: bytes) -> str | None:
    """What is wrong with a file starting with ``head`` for us; None for AEDAT 4."""
    if head.startswith(b"#!AER-DAT2.0"):
        return "AEDAT 2.0 is not supported, only AEDAT 4 (.aedat4)"
    if head.startswith(b"#!AER-DAT3"):
        return "AEDAT 3.1 is not supported, only AEDAT 4 (.aedat4)"
    if not head.startswith(AEDAT4_MAGIC):
        return "not an AEDAT 4 file (it does not start with '#!AER-DAT4.0')"
    return None


def check_aedat4(path: str | Path) -> Path:
    """Validate a path before dv-processing sees it; InputError with a one-line reason."""
    path = check_input_file(path, ".aedat4 recording")
    with open(path, "rb") as f:
        problem = aedat_header_problem(f.read(len(AEDAT4_MAGIC)))
    if problem:
        raise InputError(path, problem)
    if path.suffix != ".aedat4":
        raise InputError(path, "AEDAT 4 files must be named *.aedat4 (dv-processing refuses others)")
    return path


def _fresh(error: InputError) -> InputError:
    """A new copy to raise: raising one instance again and again would grow its traceback."""
    return InputError(error.where, error.problem)


def _open_error(path: Path, exc: BaseException) -> InputError:
    # the header magic was checked before: whatever dv cannot parse now is a damaged file
    if "End-Of-File" in str(exc):
        return InputError(path, "truncated .aedat4 file (it ends inside its header or data)")
    return InputError(path, f"truncated or corrupt .aedat4 file ({_dv_reason(exc)})")


def _open_recording(path: Path, dv_path: Path):
    """dv's reader of ``dv_path`` (``path`` or the guard's copy of its sound part)."""
    try:
        return dv.io.MonoCameraRecording(str(dv_path))
    except (RuntimeError, IndexError, ValueError) as exc:
        raise _open_error(path, exc) from None


class AedatReader:
    """Reads the event stream of one .aedat4 recording as EventBatches.

    ``batches(start_us)`` restarts from any absolute time: by the file's data table when it has
    one (exact, fast), else by reading from the beginning and dropping earlier events.
    ``damage`` is None for a sound file, else the InputError (naming the byte where the first
    damaged packet starts) that ``batches`` raises after the events before it.
    Not thread-safe: one thread reads.
    """

    def __init__(self, path: str | Path, *, guard: bool = True):
        """``guard=False`` trusts the file (benchmarks only): dv freezes on damaged packets."""
        self.path = check_aedat4(path)
        self._checked = CheckedFile(self.path) if guard else None
        # raised (as a fresh copy) once the events before the damage are read
        self.damage = self._checked.damage if self._checked is not None else None
        dv_path = self._checked.dv_path if self._checked is not None else self.path
        self._packet_ends: list[int] | None = None
        try:
            self._rec = _open_recording(self.path, dv_path)
            self.info = self._read_info()
        except InputError:
            self.close()
            if self.damage is None:
                raise
            raise _fresh(self.damage) from None  # e.g. no events before the damage

    def _read_info(self) -> RecordingInfo:
        rec, path = self._rec, self.path
        if not rec.isEventStreamAvailable():
            streams = ", ".join(rec.getStreamNames()) or "none"
            raise InputError(path, f"no event stream in this recording (streams: {streams})")
        camera = rec.getCameraName()
        size = rec.getEventResolution() or sensor_size_for(camera)
        if size is None:
            raise InputError(path, "the event stream does not state its sensor resolution")
        first = self._first_event_time()
        table = rec.getEventsTimeRange(first, first + 1)
        self._has_table = table is not None and len(table) > 0
        if self._has_table:
            last = self._last_event_time_by_table(first)
            count = None
            if path.stat().st_size <= _COUNT_EVENTS_MAX_BYTES:
                count = len(rec.getEventsTimeRange(first, last + 1))
        else:
            last, count = self._scan()
        return RecordingInfo(path, camera, int(size[0]), int(size[1]), first, last, count)

    def _next_store(self):
        try:
            return self._rec.getNextEventBatch()
        except (RuntimeError, IndexError) as exc:
            raise InputError(self.path, f"corrupt event data ({_dv_reason(exc)})") from None

    def _first_event_time(self) -> int:
        self._rec.resetSequentialRead()
        while (store := self._next_store()) is not None:
            if len(store):
                self._rec.resetSequentialRead()
                return int(store.getLowestTime())
        raise InputError(self.path, "the event stream holds no events")

    def _last_event_time_by_table(self, first: int) -> int:
        end = int(self._rec.getTimeRange()[1])  # covers all streams: events may end earlier
        span = 1000
        while True:
            start = max(first, end - span)
            store = self._rec.getEventsTimeRange(start, end + 1)
            if store is not None and len(store):
                return int(store.getHighestTime())
            if start == first:
                return first
            span *= 4

    def _scan(self) -> tuple[int, int]:
        self._rec.resetSequentialRead()
        last, count = 0, 0
        while (store := self._next_store()) is not None:
            if len(store):
                last, count = int(store.getHighestTime()), count + len(store)
        self._rec.resetSequentialRead()
        return last, count

    def batches(self, start_us: int | None = None) -> Iterator[EventBatch]:
        """Events from absolute time ``start_us`` (default: the first event) to the end; on a
        damaged file, to the damage, then ``self.damage`` is raised."""
        yield from self._sound_batches(start_us)
        if self.damage is not None:
            raise _fresh(self.damage)

    def _sound_batches(self, start_us: int | None) -> Iterator[EventBatch]:
        info = self.info
        start = info.t_first_us if start_us is None else max(int(start_us), info.t_first_us)
        if self._has_table:
            yield from self._batches_by_table(start)
            return
        self._rec.resetSequentialRead()
        while (store := self._next_store()) is not None:
            if len(store) and store.getHighestTime() >= start:
                if store.getLowestTime() < start:
                    store = store.sliceTime(start)
                yield from_event_store(store, info.width, info.height)

    def _batches_by_table(self, start: int) -> Iterator[EventBatch]:
        info, t = self.info, start
        while t <= info.t_last_us:
            store = self._events_between(t, t + _WINDOW_US)
            if store is not None and len(store):
                yield from_event_store(store, info.width, info.height)
                t += _WINDOW_US
                continue
            # an empty window: jump to the one holding the next event (a gap of days, or a
            # timestamp with a flipped high bit, is one step, not millions of empty reads)
            after = self._next_event_time(t + _WINDOW_US)
            if after is None:
                return
            t += _WINDOW_US * (1 + (after - t - _WINDOW_US) // _WINDOW_US)

    def _events_between(self, start: int, end: int):
        try:
            return self._rec.getEventsTimeRange(start, end)
        except (RuntimeError, IndexError) as exc:
            raise InputError(self.path, f"corrupt event data ({_dv_reason(exc)})") from None

    def _next_event_time(self, t: int) -> int | None:
        """The time of the first event at or after ``t`` (None: there is none), from the event
        packets' time spans the guard found; without them, ``t`` itself (step on)."""
        spans = self._checked.event_times if self._checked is not None else []
        if not spans:
            return t if t <= self.info.t_last_us else None
        if self._packet_ends is None:  # running maximum: bisect needs them sorted
            self._packet_ends = list(itertools.accumulate((last for _, last in spans), max))
        i = bisect.bisect_left(self._packet_ends, t)  # the first packet that ends at or after t
        if i == len(spans):
            return None
        first, last = spans[i]
        if first >= t:
            return first
        store = self._events_between(t, last + 1)  # a packet spanning the gap: its own events
        return int(store.getLowestTime()) if store is not None and len(store) else last

    def read_all(self) -> EventBatch:
        return EventBatch.concat(list(self.batches()), self.info.width, self.info.height)

    def close(self) -> None:
        self._rec = None
        if self._checked is not None:
            self._checked.close()


def recording_info(path: str | Path) -> RecordingInfo:
    """The recording's facts; InputError naming the byte where a damaged file goes bad."""
    reader = AedatReader(path)
    reader.close()
    if reader.damage is not None:
        raise _fresh(reader.damage)
    return reader.info


def read_all_events(path: str | Path) -> EventBatch:
    """All events of a recording in one batch (tests, tools, small files)."""
    reader = AedatReader(path)
    try:
        return reader.read_all()
    finally:
        reader.close()


# ---------------------------------------------------------------- live inputs (camera, network)

def _discover_devices() -> list:
    """dv's device discovery; its own function so tests can stand in for attached cameras."""
    return list(dv.io.camera.discover())


def _open_device(serial: str):
    return dv.io.camera.open(serial)


def discover_cameras() -> list[str]:
    """Serial numbers of the attached iniVation cameras (empty when none)."""
    try:
        devices = _discover_devices()
    except (RuntimeError, IndexError, OSError) as exc:
        raise NoCameraError(f"camera discovery failed: {_dv_reason(exc)}") from None
    return [str(d.serialNumber) for d in devices]


def open_camera(serial: str | None = None) -> LiveReader:
    """The camera with ``serial``, or the first one found."""
    serials = discover_cameras()
    if not serials:
        raise NoCameraError(NO_CAMERA_MESSAGE)
    if serial is None:
        serial = serials[0]
    elif serial not in serials:
        raise NoCameraError(f"no event camera with serial {serial!r}; found: {', '.join(serials)}")
    try:
        device = _open_device(serial)
    except (RuntimeError, IndexError) as exc:
        raise NoCameraError(f"camera {serial} was found but cannot be opened "
                            f"(in use by another program?): {_dv_reason(exc)}") from None
    return LiveReader(device, f"camera:{serial}")
