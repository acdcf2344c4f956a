"""Event sources (the ``Source`` protocol): recordings, N-MNIST samples, cameras, network streams.

File-like sources (``FileSource``, ``NMNISTSource``) share ``ReplaySource``: pacing by event
time, and pause / resume / speed / seek / loop controls that any thread may call while another
thread iterates ``batches()``. Their timestamps never go backwards: looping, or seeking back,
continues in a later "pass" whose events are shifted by whole periods, i.e.
``stream time = recording time + k * period_us``; ``recording_time_us`` maps back (labels).

Live sources (``CameraSource``, ``NetworkSource``) yield what arrives until the device is
unplugged, the stream ends or ``close()`` is called. ``open_source`` turns a CLI/GUI spec into
a source. Only ``dvio`` talks to dv-processing.
"""

from __future__ import annotations

import re
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from r2etl_core.errors import InputError
from r2etl_core.io import dv as dvio
from r2etl_core.io.aps_frames import CameraFrames
from r2etl_core.io.eventfiles import EVENT_FILE_SUFFIXES, open_event_file
from r2etl_core.io.files import check_input_file, path_stat
from r2etl_core.io.labels import LabelSegment
from r2etl_core.io.nmnist import NMNIST_SIZE, find_nmnist_samples, read_bin
from r2etl_core.parse import check_speed, parse_host_port
from r2etl_core.protocols import SEEK, SeekMark
from r2etl_core.types import EventBatch, SourceInfo

PACED_CHUNK_US = 4_000  # event time per batch when paced at 1x: smooth without per-event cost
PACED_SILENCE_MAX_US = 10_000_000  # a longer silence is replayed as this much event time
UNSUPPORTED_FORMATS = {".npy": "NumPy .npy"}
_GO, _SEEK, _CLOSE = "go", "seek", "close"


class ReplaySource:
    """Paced, controllable replay of a seekable timeline; subclasses provide ``_events_from``."""

    def __init__(self, info: SourceInfo, speed: float | None, loop: bool, t_first_us: int,
                 period_us: int):
        self.info = info
        self._t_first, self._period = int(t_first_us), max(1, int(period_us))
        self._cond = threading.Condition()
        self._speed, self._loop = check_speed(speed), bool(loop)
        self._paused = self._closed = self._running = False
        self._seek_to: int | None = None  # pending seek, us after the recording start
        self._pass = 0  # completed loops / backward seeks: the period shift of emitted events
        self._position = 0
        self._last_stream_t: int | None = None
        self._anchor: tuple[float, int] | None = None  # (monotonic s, stream us) paced against

    # -- what subclasses provide ------------------------------------------------------------
    def _events_from(self, t_abs_us: int) -> Iterator[EventBatch]:
        """Events from recording time ``t_abs_us`` to the end of the recording."""
        raise NotImplementedError

    def _release(self) -> None:
        """Free the reader; called once no thread reads any more."""

    # -- controls: any thread -----------------------------------------------------------------
    def _control(self, **changes) -> None:
        with self._cond:
            for name, value in changes.items():
                setattr(self, name, value)
            self._anchor = None  # pace afresh from here
            self._cond.notify_all()

    def pause(self) -> None:
        self._control(_paused=True)

    def resume(self) -> None:
        self._control(_paused=False)

    def set_speed(self, speed: float | None) -> None:
        self._control(_speed=check_speed(speed))

    def set_loop(self, loop: bool) -> None:
        self._control(_loop=bool(loop))

    def seek(self, t_us: int) -> None:
        """Jump to ``t_us`` after the recording start (clamped to the recording)."""
        t = min(max(0, int(t_us)), self.info.duration_us or 0)
        self._control(_seek_to=t, _position=t)

    def close(self) -> None:
        self._control(_closed=True)
        with self._cond:
            if not self._running:
                self._release()

    @property
    def playback(self) -> "ReplaySource":
        """Replays offer the ``Playback`` controls themselves."""
        return self

    segments: tuple = ()  # ground truth carried by the source itself (N-MNIST folders)
    end_reason: str | None = None  # a replay only ends normally or by close()

    def camera_frames(self) -> None:
        """A file's frames are read whole in the background by the app (io.aps_frames)."""
        return None

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def speed(self) -> float | None:
        return self._speed

    @property
    def loop(self) -> bool:
        return self._loop

    @property
    def position_us(self) -> int:
        """Recording time of the last event handed out, us after the recording start."""
        return self._position

    @property
    def period_us(self) -> int:
        return self._period

    def recording_time_us(self, stream_t_us: int) -> int:
        """Absolute recording timestamp of an event this source emitted (undoes loop shifts)."""
        return self._t_first + (int(stream_t_us) - self._t_first) % self._period

    # -- the stream: one thread ---------------------------------------------------------------
    def batches(self) -> Iterator[EventBatch | SeekMark]:
        with self._cond:
            self._running = True
        try:
            yield from self._play()
        finally:
            with self._cond:
                self._running = False
                if self._closed:
                    self._release()

    def _play(self) -> Iterator[EventBatch | SeekMark]:
        start, started = 0, False  # from the beginning, or from a seek made before the stream started
        while True:
            with self._cond:
                if self._closed:
                    return
                jumped = self._seek_to is not None
                if jumped:
                    start = self._take_seek()
            if jumped and started:
                yield SEEK  # in band: what follows is from the new position
            started = True
            emitted, verdict = 0, _GO
            for chunk in self._chunks(self._events_from(self._t_first + start)):
                verdict = self._wait_until_due(chunk)
                if verdict != _GO:
                    break
                yield self._emit(chunk)
                emitted += len(chunk)
            if verdict == _CLOSE:
                return
            if verdict == _SEEK:
                continue
            with self._cond:
                if self._seek_to is not None:
                    continue
                if not self._loop or (emitted == 0 and start == 0):
                    return
                self._pass, start, self._anchor = self._pass + 1, 0, None

    def _take_seek(self) -> int:
        """Consume the pending seek (lock held); a jump back starts the next pass."""
        target, self._seek_to = self._seek_to, None
        stream_t = self._t_first + target + self._pass * self._period
        if self._last_stream_t is not None and stream_t < self._last_stream_t:
            self._pass += 1
        return target

    def _chunks(self, batches: Iterator[EventBatch]) -> Iterator[EventBatch]:
        """Cut reader batches into ~PACED_CHUNK_US of event time when paced (longer at high
        speed so a batch still spans ~1 ms of wall time); pass them whole when unpaced."""
        for big in batches:
            i = 0
            while i < len(big):
                speed = self._speed
                if speed is None:
                    yield big.select(slice(i, None)) if i else big
                    break
                span = int(PACED_CHUNK_US * max(1.0, speed / 4))
                end = int(np.searchsorted(big.t, big.t[i] + span, side="left"))
                yield big.select(slice(i, end))
                i = end

    def _wait_until_due(self, chunk: EventBatch) -> str:
        """Block until the chunk's last event is due in wall time, or a control interrupts."""
        offset = self._pass * self._period
        with self._cond:
            self._shorten_silence(chunk.t_first_us + offset)
            while True:
                if self._closed:
                    return _CLOSE
                if self._seek_to is not None:
                    return _SEEK
                if self._paused:
                    self._cond.wait()
                    continue
                if self._speed is None:
                    return _GO
                now = time.monotonic()
                if self._anchor is None:
                    self._anchor = (now, chunk.t_first_us + offset)
                wall0, t0 = self._anchor
                due = wall0 + (chunk.t_last_us + offset - t0) / (self._speed * 1e6)
                if now >= due:
                    return _GO
                self._cond.wait(due - now)

    def _shorten_silence(self, t_us: int) -> None:
        """A silence longer than ``PACED_SILENCE_MAX_US`` before ``t_us`` is replayed as that long
        (lock held): a recording with a 12-day gap, or one timestamp with a flipped high bit,
        would otherwise keep a paced replay still for days."""
        last = self._last_stream_t
        if self._anchor is not None and last is not None and t_us - last > PACED_SILENCE_MAX_US:
            wall0, t0 = self._anchor
            self._anchor = (wall0, t0 + (t_us - last - PACED_SILENCE_MAX_US))

    def _emit(self, chunk: EventBatch) -> EventBatch:
        offset = self._pass * self._period
        if offset:
            chunk = EventBatch(chunk.t + offset, chunk.x, chunk.y, chunk.p, chunk.width, chunk.height)
        with self._cond:
            self._last_stream_t = chunk.t_last_us
            if self._seek_to is None:
                self._position = chunk.t_last_us - offset - self._t_first
        return chunk


class FileSource(ReplaySource):
    """An event file of any format ``io.eventfiles`` reads (.aedat4, .raw, .dat, .es, .csv, HDF5,
    .aedat), paced by its timestamps (``speed`` x real time; None = unpaced)."""

    def __init__(self, path: str | Path, speed: float | None = 1.0, loop: bool = False):
        self._reader = open_event_file(path)
        rec = self._reader.info
        info = SourceInfo("file", str(path), rec.width, rec.height, rec.camera, rec.duration_us,
                          rec.t_first_us, rec.event_count, seekable=True)
        super().__init__(info, speed, loop, rec.t_first_us, rec.duration_us + 1)

    def _events_from(self, t_abs_us: int) -> Iterator[EventBatch]:
        return self._reader.batches(t_abs_us)

    def _release(self) -> None:
        self._reader.close()


@dataclass(frozen=True)
class NMNISTLayout:
    """Where samples sit on the stream's time grid: sample k spans
    ``[k * slot, k * slot + sample_us)`` with ``slot = sample_us + gap_us``; events a sample has
    beyond ``sample_us`` are dropped (N-MNIST samples last at most ~316 ms)."""

    sample_us: int = 320_000
    gap_us: int = 80_000

    @property
    def slot_us(self) -> int:
        return self.sample_us + self.gap_us


class NMNISTSource(ReplaySource):
    """N-MNIST samples replayed as one continuous paced stream; ``segments`` is the ground truth
    (stream time, starting at 0)."""

    def __init__(self, path: str | Path, speed: float | None = 1.0, loop: bool = False,
                 layout: NMNISTLayout = NMNISTLayout()):
        self.samples = find_nmnist_samples(path)
        self.layout = layout
        read_bin(self.samples[0][0])  # fail now, not mid-stream, when the files are not .bin
        slot, n = layout.slot_us, len(self.samples)
        self.segments: tuple[LabelSegment, ...] = tuple(
            LabelSegment(k * slot, k * slot + layout.sample_us, label)
            for k, (_, label) in enumerate(self.samples) if label)
        info = SourceInfo("nmnist", str(path), *NMNIST_SIZE, camera="ATIS (N-MNIST)",
                          duration_us=(n - 1) * slot + layout.sample_us, t_start_us=0, seekable=True)
        super().__init__(info, speed, loop, 0, n * slot)

    def _events_from(self, t_abs_us: int) -> Iterator[EventBatch]:
        slot = self.layout.slot_us
        for k in range(max(0, t_abs_us) // slot, len(self.samples)):
            ev = read_bin(self.samples[k][0])
            ev = ev.select((ev.t < self.layout.sample_us) & (ev.t + k * slot >= t_abs_us))
            yield EventBatch(ev.t + k * slot, ev.x, ev.y, ev.p, ev.width, ev.height)


class _LiveSource:
    """A camera or network stream: unpaced (it arrives in real time), not seekable."""

    playback = None
    segments: tuple = ()
    _LOST = "{name} disconnected"

    def __init__(self, reader: dvio.LiveReader, info: SourceInfo):
        self._reader, self.info = reader, info
        self._started = time.monotonic()

    def batches(self) -> Iterator[EventBatch]:
        self._started = time.monotonic()
        return self._reader.batches()

    def close(self) -> None:
        self._reader.close()

    def camera_frames(self) -> CameraFrames | None:
        """The camera's newest grey-level frames (a DAVIS346), None for events-only inputs."""
        recent = self._reader.recent_frames() if self._reader.has_frames else []
        if not recent:
            return None
        return CameraFrames(np.array([t for t, _ in recent], np.int64), np.stack([image for _, image in recent]))

    @property
    def end_reason(self) -> str | None:
        """Why the input stopped by itself (None while running or after ``close()``), with how
        long it had run when it stopped (not when this is asked)."""
        reader = self._reader
        why = reader.stopped_reason
        if why is None or why == "closed":
            return None
        ran = f"{(reader.stopped_at or time.monotonic()) - self._started:.1f} s"
        if why == "disconnected":
            return self._LOST.format(name=self.info.name) + f" after {ran}"
        if why == "stalled":
            return f"connected to {self.info.name}, no data for {reader.stall_s:g} s (gave up after {ran})"
        return f"{self.info.name}: {why.removeprefix('error: ')} after {ran}"


class CameraSource(_LiveSource):
    _LOST = "camera {name} disconnected"

    def __init__(self, serial: str | None = None):
        reader = dvio.open_camera(serial)
        serial = reader.where.removeprefix("camera:")
        super().__init__(reader, SourceInfo("camera", serial, reader.width, reader.height, reader.camera))


class NetworkSource(_LiveSource):
    """A DV network stream; ends with ``end_reason`` when the peer goes away or sends nothing
    for ``stall_s`` (opening fails the same way when it never starts sending)."""

    _LOST = "connection to {name} lost"

    def __init__(self, host: str, port: int, stall_s: float = dvio.DEFAULT_STALL_S):
        reader = dvio.open_network(host, port, stall_s)
        super().__init__(reader, SourceInfo("network", f"{host}:{port}", reader.width, reader.height,
                                            reader.camera))


def _open_path(path: Path, speed: float | None, loop: bool):
    suffix = path.suffix.lower()
    if suffix in UNSUPPORTED_FORMATS:
        raise InputError(path, f"{UNSUPPORTED_FORMATS[suffix]} files are not supported: open an event "
                               f"file ({', '.join(EVENT_FILE_SUFFIXES)}) or N-MNIST .bin samples")
    found = path_stat(path, "input")  # a folder on the way without x permission: one line
    if found is None:
        raise InputError(path, "file not found")
    if suffix in EVENT_FILE_SUFFIXES:  # a folder or pipe of that name is named as such, not searched for .bin
        check_input_file(path, "recording")
        return FileSource(path, speed=speed, loop=loop)
    if stat.S_ISDIR(found.st_mode) or suffix == ".bin":
        return NMNISTSource(path, speed=speed, loop=loop)
    raise InputError(path, f"unknown file type {suffix or '(no extension)'}: expected an event file "
                           f"({', '.join(EVENT_FILE_SUFFIXES)}), .bin or a folder of .bin samples")


# Something with a colon and no slash was meant as HOST:PORT (127.0.0.1:abc), not a file name.
_MEANT_AS_HOST_PORT = re.compile(r"^[^/\\]+:[^/\\]*$")


def open_source(spec: str, speed: float | None = 1.0, loop: bool = False,
                stall_s: float = dvio.DEFAULT_STALL_S):
    """A source for a CLI/GUI input: a path (an event file, .bin, folder of .bin), ``camera``,
    ``camera:SERIAL``, ``HOST:PORT`` or ``tcp://HOST:PORT``. ``speed``/``loop`` apply to files,
    ``stall_s`` (give up after that long without data) to network streams."""
    spec = str(spec).strip()
    if spec == "camera" or spec.startswith("camera:"):
        return CameraSource(spec.partition(":")[2] or None)
    if not spec:
        raise InputError("INPUT", "is empty: name a recording, a folder of .bin samples, camera or HOST:PORT")
    path = Path(spec)
    exists = path_stat(path, "input") is not None
    if spec.startswith("tcp://") or (not exists and _MEANT_AS_HOST_PORT.match(spec)):
        return NetworkSource(*parse_host_port(spec), stall_s=stall_s)
    if not exists and not path.suffix:
        raise InputError(spec, "not a file, folder, camera[:SERIAL] or HOST:PORT")
    return _open_path(path, speed, loop)
