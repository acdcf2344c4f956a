"""What every event-file reader shares: the facts of a file, the checks, the panic guard.

A reader subclass decodes chunks (``_decode``); ``EventFileReader`` turns them into checked
``EventBatch``es: coordinates inside the sensor, timestamps that never go backwards, and any
failure of a native decoder as one ``InputError`` naming the file. faery raises Rust panics
(``pyo3_runtime.PanicException``) that derive from ``BaseException``, so ``except Exception``
would let them escape as tracebacks: ``native_guard`` catches everything but the interpreter's
own control exceptions.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from r2etl_core.errors import InputError
from r2etl_core.io.files import check_input_file
from r2etl_core.parse import brief
from r2etl_core.types import EventBatch

# Sensor sizes tried, smallest first, when a file does not state its own: N-MNIST ATIS crops,
# DVS128, DAVIS240, ATIS (N-CARS), DVXplorer Lite / QVGA, DAVIS346, VGA (Prophesee Gen3,
# DVXplorer), HD (Prophesee Gen4 / IMX636).
KNOWN_SENSOR_SIZES = ((34, 34), (128, 128), (240, 180), (304, 240), (320, 240), (346, 260),
                      (640, 480), (1280, 720))
_CONTROL = (KeyboardInterrupt, SystemExit, GeneratorExit)


@dataclass(frozen=True)
class EventFileInfo:
    """Facts of an event file (the fields of ``io.dv.RecordingInfo``, plus the format)."""

    path: Path
    camera: str
    width: int
    height: int
    t_first_us: int
    t_last_us: int
    event_count: int | None
    format: str = ""
    size_inferred: bool = False  # the file does not state its sensor size: smallest known one that fits

    @property
    def duration_us(self) -> int:
        return self.t_last_us - self.t_first_us


def infer_sensor_size(max_x: int, max_y: int) -> tuple[int, int]:
    """The smallest known sensor that holds pixel ``(max_x, max_y)``, else the events' bounds."""
    for width, height in KNOWN_SENSOR_SIZES:
        if max_x < width and max_y < height:
            return width, height
    return max_x + 1, max_y + 1


@contextlib.contextmanager
def native_guard(path: Path, what: str) -> Iterator[None]:
    """Any failure of a native decoder (exception or Rust panic) as one InputError on ``path``."""
    try:
        yield
    except (InputError, *_CONTROL):
        raise
    except MemoryError:
        raise InputError(path, f"corrupt {what}: decoding it ran out of memory") from None
    except BaseException as exc:  # noqa: B036 - faery panics derive from BaseException
        raise InputError(path, f"corrupt or unreadable {what} ({brief(exc)})") from None


def make_batch(t, x, y, p, width: int, height: int) -> EventBatch:
    """Owned arrays with the project's dtypes (t int64 us, x/y int16, p int8 with 1 = ON)."""
    return EventBatch(np.asarray(t).astype(np.int64), np.asarray(x).astype(np.int16),
                      np.asarray(y).astype(np.int16), (np.asarray(p) > 0).astype(np.int8), width, height)


class EventFileReader:
    """Reads one event file as time-ordered EventBatches; subclasses decode.

    ``batches(start_us)`` restarts from any absolute time: subclasses that can jump (fixed-size
    records, an HDF5 time column, a packet index) start near it, others decode from the
    beginning and drop earlier events. Opening scans the file once for its facts (event count,
    time span, and the sensor size when the file does not state it), so damage anywhere in it
    is found at open. Not thread-safe: one thread reads.
    """

    what = "event file"  # used in messages: "corrupt Prophesee RAW file (...)"
    format_name = ""

    def __init__(self, path: str | Path):
        self.path = check_input_file(path, self.what)
        self._size: tuple[int, int] | None = None  # set by _open when the file states it
        self._camera = ""
        try:
            with native_guard(self.path, self.what):
                self._open()
            self.info = self._scan()
        except BaseException:
            self.close()
            raise

    # -- what subclasses provide -----------------------------------------------------------------
    def _open(self) -> None:
        """Read the header: set ``_size``/``_camera`` when the file states them."""

    def _decode(self, start_us: int | None) -> Iterator[EventBatch]:
        """Chunks from ``start_us`` (or earlier) to the end; width/height of the chunks unused."""
        raise NotImplementedError

    def _time_span(self) -> tuple[int, int] | None:
        """(first, last timestamp) read without decoding the file, where the format allows it
        and the file states its size: then opening skips the scan (event count unknown)."""
        return None

    def close(self) -> None:
        """Free what the reader holds open."""

    # -- shared ------------------------------------------------------------------------------------
    def _scan(self) -> EventFileInfo:
        span = self._time_span() if self._size is not None else None
        if span is not None:
            return EventFileInfo(self.path, self._camera, self._size[0], self._size[1], span[0], span[1], None,
                                 self.format_name, False)
        count, first, last, max_x, max_y = 0, None, 0, 0, 0
        for batch in self._checked(None, check_size=False):
            if not len(batch):
                continue
            first = batch.t_first_us if first is None else first
            count, last = count + len(batch), batch.t_last_us
            max_x, max_y = max(max_x, int(batch.x.max())), max(max_y, int(batch.y.max()))
        if first is None:
            raise InputError(self.path, f"the {self.what} holds no events")
        inferred = self._size is None
        if inferred:
            self._size = infer_sensor_size(max_x, max_y)
        elif max_x >= self._size[0] or max_y >= self._size[1]:
            raise InputError(self.path, f"event at pixel ({max_x}, {max_y}) or beyond lies outside the "
                                        f"{self._size[0]}x{self._size[1]} sensor its header states")
        return EventFileInfo(self.path, self._camera, self._size[0], self._size[1], int(first), int(last),
                             count, self.format_name, inferred)

    def batches(self, start_us: int | None = None) -> Iterator[EventBatch]:
        """Events from absolute time ``start_us`` (default: the first event) to the end."""
        width, height = self.info.width, self.info.height
        for batch in self._checked(start_us, check_size=True):
            if start_us is not None and len(batch) and batch.t_first_us < start_us:
                batch = batch.select(slice(int(np.searchsorted(batch.t, start_us, side="left")), None))
            if len(batch):
                yield EventBatch(batch.t, batch.x, batch.y, batch.p, width, height)

    def _checked(self, start_us: int | None, check_size: bool) -> Iterator[EventBatch]:
        """Decoded chunks, each checked: no negative pixels, none beyond the sensor, no time going back."""
        previous, seen = None, 0
        with native_guard(self.path, self.what):
            for batch in self._decode(start_us):
                if not len(batch):
                    continue
                self._check_chunk(batch, previous, seen, check_size)
                previous, seen = batch.t_last_us, seen + len(batch)
                yield batch

    def _check_chunk(self, batch: EventBatch, previous: int | None, seen: int, check_size: bool) -> None:
        if int(batch.x.min()) < 0 or int(batch.y.min()) < 0:
            raise InputError(self.path, f"corrupt {self.what}: negative pixel coordinates near event {seen:,}")
        if check_size and (int(batch.x.max()) >= self.info.width or int(batch.y.max()) >= self.info.height):
            raise InputError(self.path, f"corrupt {self.what}: an event near event {seen:,} lies outside the "
                                        f"{self.info.width}x{self.info.height} sensor")
        # the chunk's times, preceded by the previous chunk's last: one diff covers the seam
        times = batch.t if previous is None else np.concatenate(([previous], batch.t))
        steps = np.diff(times)
        if len(steps) and steps.min() < 0:
            at = int(np.argmax(steps < 0))  # times[at + 1] is earlier than times[at]
            index = seen + at + (1 if previous is None else 0)
            raise InputError(self.path, f"timestamps go backwards at event {index:,} ({int(times[at + 1])} us "
                                        f"after {int(times[at])} us): sort the events by time")

    def read_all(self) -> EventBatch:
        return EventBatch.concat(list(self.batches()), self.info.width, self.info.height)
