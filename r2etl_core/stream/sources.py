"""Event sources (the ``Source`` protocol): recordings, N-MNIST samples, cameras, network streams.

File-like sources (``FileSource``, ``NMNISTSource``) are ``stream.replay.ReplaySource``s:
paced by event time, with pause / resume / speed / seek / loop controls.

Live sources (``CameraSource``, ``NetworkSource``) yield what arrives until the device is
unplugged, the stream ends or ``close()`` is called. ``open_source`` turns a CLI/GUI spec into
a source. Only ``dvio`` talks to dv-processing.
"""

from __future__ import annotations

import re
import stat
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
from r2etl_core.parse import parse_host_port
from r2etl_core.stream.replay import ReplaySource
from r2etl_core.types import EventBatch, SourceInfo

UNSUPPORTED_FORMATS = {".npy": "NumPy .npy"}


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
