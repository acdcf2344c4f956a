"""Writing events with dv-processing (.aedat4 files, network streams) and its noise filter.

dv-processing 2.0.4 facts this module works around (checked by tests/test_dvio.py):

- ``MonoCameraWriter`` on a path not ending in ``.aedat4`` calls ``std::terminate`` (the whole
  process dies, nothing to catch), so the unfinished file is ``<stem>.part.aedat4``.
- A writer finalises its file only in its destructor: ``close()`` drops the last reference.
- Destroying a ``NetworkWriter`` while a client is connected deadlocks while holding the GIL:
  ``NetworkEventWriter.close`` refuses to do that.
- There is no numpy -> EventStore constructor: see ``_common.to_event_store``.
"""

from __future__ import annotations

import datetime
import gc
import os
import time
from dataclasses import dataclass
from pathlib import Path

import dv_processing as dv

from r2etl_core.errors import InputError
from r2etl_core.io.dv._common import _dv_reason, from_event_store, to_event_store
from r2etl_core.types import EventBatch

# ---------------------------------------------------------------- writing

def part_path_for(path: str | Path) -> Path:
    """Where an unfinished recording lives: ``<stem>.part.aedat4`` beside the final file.
    (``<name>.aedat4.part`` would be nicer, but dv-processing aborts the process on it.)"""
    path = Path(path)
    return path.with_name(path.name[: -len(".aedat4")] + ".part.aedat4")


class AedatWriter:
    """Writes EventBatches to an event-only .aedat4 file, atomically.

    Events go to ``<stem>.part.aedat4``; ``close()`` finalises it and renames it to ``path``, so
    a good file is never replaced by a half-written one and a crash leaves the .part behind.
    Events older than the last written one are dropped (dv refuses them) and counted.
    Not thread-safe by itself (``Recorder`` adds the lock).
    """

    def __init__(self, path: str | Path, width: int, height: int, camera_name: str = "r2etl"):
        self.path = Path(path)
        if self.path.suffix != ".aedat4":  # checked here: dv would kill the process (see top)
            raise InputError(self.path, "recordings must be named *.aedat4")
        if not self.path.parent.is_dir():
            raise InputError(self.path, f"folder {self.path.parent} does not exist")
        self.part_path = part_path_for(self.path)
        if self.part_path.exists():
            raise InputError(self.part_path, "an unfinished recording is in the way: "
                                             "rename or delete it first")
        self.width, self.height = int(width), int(height)
        config = dv.io.MonoCameraWriter.EventOnlyConfig(camera_name, (self.width, self.height))
        try:
            self._writer = dv.io.MonoCameraWriter(str(self.part_path), config)
        except (RuntimeError, IndexError) as exc:
            raise InputError(self.part_path, f"cannot create ({_dv_reason(exc)})") from None
        self._last_t: int | None = None
        self.events_written = 0
        self.events_dropped = 0

    def write(self, batch: EventBatch) -> None:
        if self._writer is None:
            raise ValueError(f"{self.path}: writer is closed")
        if (batch.width, batch.height) != (self.width, self.height):
            raise ValueError(f"batch is {batch.width}x{batch.height}, the recording "
                             f"{self.width}x{self.height}: start a new recording after a source switch")
        if self._last_t is not None and len(batch) and batch.t_first_us < self._last_t:
            keep = batch.t >= self._last_t
            self.events_dropped += len(batch) - int(keep.sum())
            batch = batch.select(keep)
        if len(batch) == 0:
            return
        try:
            self._writer.writeEvents(to_event_store(batch))
        except RuntimeError as exc:  # e.g. the disk is full
            raise InputError(self.part_path, f"cannot write events ({_dv_reason(exc)})") from None
        self._last_t = batch.t_last_us
        self.events_written += len(batch)

    def close(self) -> Path:
        """Finalise and rename; idempotent. Returns the final path."""
        if self._writer is not None:
            del self._writer  # the dv writer completes the file only in its destructor
            self._writer = None
            gc.collect()
            os.replace(self.part_path, self.path)
        return self.path

    def __enter__(self) -> "AedatWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class NetworkEventWriter:
    """Serves EventBatches as a DV event stream on ``host:port`` (tests, demos, relays).

    Close the clients first: destroying a dv NetworkWriter with a client still connected hangs
    forever (dv-processing 2.0.4), so ``close`` waits for them and raises if they stay.
    """

    def __init__(self, host: str, port: int, width: int, height: int, camera_name: str = "r2etl"):
        self.where = f"{host}:{port}"
        self.width, self.height = int(width), int(height)
        stream = dv.io.Stream.EventStream(0, "events", camera_name, (self.width, self.height))
        try:
            self._writer = dv.io.NetworkWriter(host, int(port), stream)
        except (RuntimeError, IndexError, ValueError) as exc:
            raise InputError(self.where, f"cannot serve here ({_dv_reason(exc)})") from None

    @property
    def client_count(self) -> int:
        return int(self._writer.getClientCount()) if self._writer is not None else 0

    def wait_for_clients(self, count: int = 1, timeout_s: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while self.client_count < count and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.client_count >= count

    def write(self, batch: EventBatch) -> None:
        if len(batch):
            self._writer.writeEvents(to_event_store(batch))

    def close(self, timeout_s: float = 2.0) -> None:
        if self._writer is None:
            return
        deadline = time.monotonic() + timeout_s
        while self.client_count and time.monotonic() < deadline:
            time.sleep(0.005)
        if self.client_count:
            raise RuntimeError(f"{self.where}: {self.client_count} client(s) still connected; "
                               "close them first (dv's writer would hang)")
        self._writer = None


# ---------------------------------------------------------------- noise filter

@dataclass(frozen=True)
class NoiseFilterParams:
    """Keep an event only if a neighbouring pixel fired within ``duration_us`` before it."""

    duration_us: int = 2000

    def __post_init__(self):
        if self.duration_us <= 0:
            raise ValueError(f"noise filter duration must be positive, got {self.duration_us} us")


class BackgroundActivityFilter:
    """dv's BackgroundActivityNoiseFilter over a stream of batches. Stateful: it remembers the
    last event time per pixel, so feed it consecutive batches of one sensor."""

    def __init__(self, width: int, height: int, params: NoiseFilterParams = NoiseFilterParams()):
        self.width, self.height, self.params = width, height, params
        self._filter = dv.noise.BackgroundActivityNoiseFilter(
            (width, height), datetime.timedelta(microseconds=params.duration_us))

    def __call__(self, batch: EventBatch) -> EventBatch:
        if len(batch) == 0:
            return batch
        self._filter.accept(to_event_store(batch))
        return from_event_store(self._filter.generateEvents(), self.width, self.height)
