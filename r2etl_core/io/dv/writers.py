"""Writing events with dv-processing (.aedat4 files, network streams) and its noise filter.

dv-processing 2.0.4 facts this module works around (checked by tests/test_dvio.py):

- ``MonoCameraWriter`` on a path not ending in ``.aedat4`` calls ``std::terminate`` (the whole
  process dies, nothing to catch), so the unfinished file is ``<stem>.part.aedat4``.
- It finalises its file only in its destructor and holds the last 64 KiB in memory until then
  (no flush): ``AedatWriter`` therefore encodes the file itself (``encode``), in the same layout.
- Destroying a ``NetworkWriter`` while a client is connected deadlocks while holding the GIL:
  ``NetworkEventWriter.close`` refuses to do that.
- There is no numpy -> EventStore constructor: see ``_common.to_event_store``.
"""

from __future__ import annotations

import datetime
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import dv_processing as dv

from r2etl_core.errors import InputError
from r2etl_core.io.dv import encode
from r2etl_core.io.dv._common import _dv_reason, from_event_store, to_event_store
from r2etl_core.types import EventBatch

# ---------------------------------------------------------------- writing

FLUSH_S = 0.25  # at most this much wall time of events waits in memory (lost if killed)
MAX_PACKET_EVENTS = 1 << 18  # 4 MiB of events per packet at most (dv decodes a packet at once)


def part_path_for(path: str | Path) -> Path:
    """Where an unfinished recording lives: ``<stem>.part.aedat4`` beside the final file.
    (``<name>.aedat4.part`` would be nicer, but dv-processing aborts the process on it.)"""
    path = Path(path)
    return path.with_name(path.name[: -len(".aedat4")] + ".part.aedat4")


def lock_in_use(fd: int) -> bool:
    """Take an exclusive advisory lock on ``fd``; False when another open file holds it (a
    recording still being written, in this process or another). The OS drops the lock when
    the writer closes the file or its process dies, so a killed recording's .part is free."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; recovery then trusts the caller
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


class AedatWriter:
    """Writes EventBatches to an event-only .aedat4 file, atomically, losing little on a crash.

    Events go to ``<stem>.part.aedat4``; ``close()`` adds the data table and renames it to
    ``path``, so a good file is never replaced by a half-written one. Events are packed into a
    packet and written to the file (the OS) once the oldest waiting event is ``flush_s`` old
    (checked on every ``write`` and by ``flush_if_due``, which a recorder calls on a timer):
    a killed process leaves a .part holding all but the last ~``flush_s`` of events, readable
    up to the cut (see ``guard``). Events older than the last written one are dropped (dv's
    reader requires time order) and counted. Not thread-safe by itself (``Recorder`` locks).
    """

    def __init__(self, path: str | Path, width: int, height: int, camera_name: str = "r2etl",
                 flush_s: float = FLUSH_S):
        self.path = Path(path)
        if self.path.suffix != ".aedat4":  # readers need the name (dv's own writer would abort)
            raise InputError(self.path, "recordings must be named *.aedat4")
        if not self.path.parent.is_dir():
            raise InputError(self.path, f"folder {self.path.parent} does not exist")
        self.part_path = part_path_for(self.path)
        if self.part_path.exists():
            raise InputError(self.part_path, "an unfinished recording is in the way: "
                                             "rename or delete it first")
        self.width, self.height, self.flush_s = int(width), int(height), float(flush_s)
        header, self._table_field = encode.header_bytes(camera_name, self.width, self.height)
        try:
            self._fd: int | None = os.open(self.part_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as exc:
            raise InputError(self.part_path, f"cannot create ({exc.strerror})") from None
        lock_in_use(self._fd)  # while it is held, recovery knows this .part is being written
        self._offset = 0
        self._entries: list[encode.TableEntry] = []
        self._pending: list[EventBatch] = []
        self._pending_n, self._pending_since = 0, 0.0
        self._last_t: int | None = None
        self.events_written = 0  # accepted: written or waiting for the next packet
        self.events_dropped = 0
        self._broken: str | None = None  # why a write failed: the file is not finished then
        try:
            self._append(header)
        except InputError:
            os.close(self._fd)
            self.part_path.unlink()
            raise

    def _append(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:  # e.g. the disk is full; part of a packet may be in the file
            self._broken = exc.strerror or type(exc).__name__
            raise InputError(self.part_path, f"cannot write events ({self._broken})") from None
        self._offset += len(data)

    def write(self, batch: EventBatch) -> None:
        if self._fd is None:
            raise ValueError(f"{self.path}: writer is closed")
        if self._broken is not None:
            raise InputError(self.part_path, f"cannot write events ({self._broken})")
        if (batch.width, batch.height) != (self.width, self.height):
            raise ValueError(f"batch is {batch.width}x{batch.height}, the recording "
                             f"{self.width}x{self.height}: start a new recording after a source switch")
        if self._last_t is not None and len(batch) and batch.t_first_us < self._last_t:
            keep = batch.t >= self._last_t
            self.events_dropped += len(batch) - int(keep.sum())
            batch = batch.select(keep)
        if len(batch):
            if not self._pending:
                self._pending_since = time.monotonic()
            self._pending.append(batch)
            self._pending_n += len(batch)
            self._last_t = batch.t_last_us
            self.events_written += len(batch)
        self.flush_if_due()

    @property
    def last_t_us(self) -> int | None:
        """Time of the last event accepted (None before any)."""
        return self._last_t

    def flush_if_due(self) -> None:
        """Write the waiting events once the oldest is ``flush_s`` old or there are many."""
        if self._pending and (time.monotonic() - self._pending_since >= self.flush_s
                              or self._pending_n >= MAX_PACKET_EVENTS):
            self.flush()

    def flush(self) -> None:
        """Write every waiting event to the file now, in packets of at most MAX_PACKET_EVENTS."""
        if not self._pending or self._fd is None:
            return
        batch = EventBatch.concat(self._pending, self.width, self.height)
        self._pending, self._pending_n = [], 0
        for lo in range(0, len(batch), MAX_PACKET_EVENTS):
            part = batch.select(slice(lo, lo + MAX_PACKET_EVENTS))
            packet, at = encode.event_packet(part), self._offset
            self._append(packet)
            self._entries.append(encode.TableEntry(at, len(packet) - 8, len(part),
                                                   part.t_first_us, part.t_last_us))

    def close(self) -> Path:
        """Write what waits and the data table, then rename; idempotent. Returns the final path."""
        if self._fd is None:
            return self.path
        if self._broken is not None:  # a cut packet inside: leave the .part for recovery
            os.close(self._fd)
            self._fd = None
            raise InputError(self.part_path, f"left unfinished after a failed write ({self._broken})")
        try:
            self.flush()
            table_at = self._offset
            self._append(encode.data_table(self._entries))
            os.pwrite(self._fd, struct.pack("<q", table_at), self._table_field)
            os.fsync(self._fd)
        except OSError as exc:
            raise InputError(self.part_path, f"cannot finish the recording ({exc.strerror})") from None
        finally:
            os.close(self._fd)
            self._fd = None
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
