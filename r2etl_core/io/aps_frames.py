"""The camera's own grey-level frames (a DAVIS's APS frames) stored in an .aedat4 recording.

Why: a DAVIS346 records intensity frames beside its events; showing the one nearest in time
under the events (as DV does) shows the scene in the camera's own image domain. Frames are
small (90 kB at 346x260), so a file's frames are read once, off the GUI thread, and then
looked up by time (``CameraFrames.nearest``).

dv-processing 2.0.4 facts used here: ``MonoCameraRecording.isFrameStreamAvailable()``;
``getNextFrame()`` gives a ``Frame`` (``timestamp`` in us, ``image`` HxW uint8, HxWx3 for a
colour sensor) and None at the end. dv freezes the process on a packet whose compressed data
is damaged (see ``r2etl_core.io.dv.guard``, which checks event packets only): every frame
packet is decompressed here first, and dv sees the file only up to the first damaged one.
Live cameras are not covered: their reader (``r2etl_core.io.dv.readers``) hands out events only.
``has_frame_stream`` answers from the header alone; ``write_recording_with_frames`` writes
events and frames together (stand-in recordings for experiments and tests).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import dv_processing as dv
import numpy as np
import zstandard

from r2etl_core.errors import InputError
from r2etl_core.io.dv._common import to_event_store
from r2etl_core.io.dv.checked import write_readable_prefix
from r2etl_core.io.dv.guard import Bad, Scan, read_header, scan_file
from r2etl_core.io.files import check_input_file
from r2etl_core.types import EventBatch

FRAME_KIND = "FRME"  # the flatbuffer identifier of frame packets
MAX_FRAME_BYTES = 512 << 20  # ~100 minutes of 346x260 frames at 10 Hz; later frames are left out
_DV_ERRORS = (RuntimeError, IndexError, ValueError, TypeError)
# what a damaged compressed packet raises (lz4: RuntimeError; an impossible size: the others)
_DECODE_ERRORS = (Bad, RuntimeError, ValueError, OverflowError, MemoryError, zstandard.ZstdError)


@dataclass(frozen=True)
class CameraFrames:
    """Frames of one recording, in time order. ``complete`` is False when reading stopped
    early (``MAX_FRAME_BYTES``, or a damaged frame packet)."""

    t_us: np.ndarray  # int64 [N]: absolute timestamps, as the events carry them
    images: np.ndarray  # uint8 [N, H, W]
    complete: bool = True

    def __len__(self) -> int:
        return len(self.t_us)

    @property
    def width(self) -> int:
        return int(self.images.shape[2])

    @property
    def height(self) -> int:
        return int(self.images.shape[1])

    def nearest(self, t_us: int) -> int | None:
        """Index of the frame whose timestamp is nearest ``t_us`` (None without frames)."""
        if not len(self):
            return None
        i = int(np.searchsorted(self.t_us, t_us))
        if i == 0:
            return 0
        if i == len(self):
            return i - 1
        return i if self.t_us[i] - t_us < t_us - self.t_us[i - 1] else i - 1


def read_camera_frames(path: str | Path, max_bytes: int = MAX_FRAME_BYTES) -> CameraFrames | None:
    """All frames of an .aedat4 recording (None when it has no frame stream); InputError with
    one line when the file cannot be read. Blocking: seconds for a long recording."""
    path = check_input_file(path, "recording")
    scan, end = _scan(path)
    if not any(s.kind == FRAME_KIND for s in scan.streams.values()):
        return None
    with _dv_view(path, scan, end) as dv_path:
        try:
            recording = dv.io.MonoCameraRecording(str(dv_path))
            if not recording.isFrameStreamAvailable():
                return None
            times, images, complete = _read_all(recording, max_bytes)
        except _DV_ERRORS as exc:
            raise InputError(path, f"cannot read camera frames ({_first_line(exc)})") from None
    complete = complete and end == scan.good_end and scan.damage is None
    if not images:
        return CameraFrames(np.zeros(0, np.int64), np.zeros((0, 1, 1), np.uint8), complete)
    return CameraFrames(np.asarray(times, np.int64), np.stack(images), complete)


def has_frame_stream(path: str | Path) -> bool:
    """Whether an .aedat4 file's header declares a frame stream (reads the header only, so it
    is quick enough to ask about a whole folder). False for other files and unreadable ones;
    a declared stream may still hold no frame (``read_camera_frames`` tells)."""
    path = Path(path)
    if path.suffix.lower() != ".aedat4" or not path.is_file():
        return False
    try:
        with open(path, "rb") as f:
            scan, _ = read_header(f, path.stat().st_size)
    except (Bad, EOFError, OSError):
        return False
    return any(s.kind == FRAME_KIND for s in scan.streams.values())


def write_recording_with_frames(path: str | Path, events: EventBatch, frames: CameraFrames,
                                camera_name: str = "DAVIS-standin", packet_us: int = 30_000) -> Path:
    """An .aedat4 file with ``events`` (time-ordered) and ``frames`` (grey, the events' sensor
    size), written by dv's own writer in time order. Not crash-safe like ``AedatWriter``: for
    stand-in recordings made in one go, not for a camera."""
    path = Path(path)
    if path.suffix != ".aedat4":  # dv's writer aborts the process on any other name
        raise InputError(path, "recordings must be named *.aedat4")
    if frames.images.shape[1:] != (events.height, events.width):
        raise ValueError(f"frames are {frames.width}x{frames.height}, events {events.width}x{events.height}")
    config = dv.io.MonoCameraWriter.Config(camera_name)
    config.addEventStream((events.width, events.height))
    config.addFrameStream((events.width, events.height))
    writer = dv.io.MonoCameraWriter(str(path), config)
    first = min(int(events.t_first_us) if len(events) else 0, int(frames.t_us[0]) if len(frames) else 0)
    last = max(int(events.t_last_us) if len(events) else 0, int(frames.t_us[-1]) if len(frames) else 0)
    k = 0
    for start in range(first - first % packet_us, last + 1, packet_us):
        lo, hi = np.searchsorted(events.t, [start, start + packet_us])
        if hi > lo:
            writer.writeEvents(to_event_store(events.select(slice(int(lo), int(hi)))))
        while k < len(frames) and frames.t_us[k] < start + packet_us:
            writer.writeFrame(dv.Frame(int(frames.t_us[k]), np.ascontiguousarray(frames.images[k])))
            k += 1
    del writer  # dv writes its file table when the writer is destroyed
    return path


def _scan(path: Path) -> tuple[Scan, int]:
    """The guard's scan of ``path`` and where dv may read frames up to: the end of the sound
    part, or the first frame packet that does not decompress."""
    try:
        scan = scan_file(path)
        with open(path, "rb") as f:
            _, decompress = read_header(f, scan.file_size)
            frame_ids = {sid for sid, s in scan.streams.items() if s.kind == FRAME_KIND}
            for offset, (stream_id, size) in sorted(scan.packets.items()):
                if stream_id not in frame_ids:
                    continue
                f.seek(offset + 8)
                try:
                    decompress(f.read(size))
                except _DECODE_ERRORS:
                    return scan, offset
    except (Bad, EOFError):
        raise InputError(path, "truncated or corrupt .aedat4 file (damaged header)") from None
    except OSError as exc:
        raise InputError(path, f"cannot read recording ({exc.strerror or type(exc).__name__})") from None
    return scan, scan.good_end


@contextlib.contextmanager
def _dv_view(path: Path, scan: Scan, end: int) -> Iterator[Path]:
    """``path`` itself when dv may read all of it, else a temporary copy of what it may read."""
    if end == scan.good_end and scan.damage is None:
        yield path
        return
    fd, name = tempfile.mkstemp(prefix="r2etl-frames-", suffix=".aedat4")
    try:
        with os.fdopen(fd, "wb") as out:
            write_readable_prefix(path, replace(scan, good_end=end), out)
        yield Path(name)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


def _read_all(recording, max_bytes: int) -> tuple[list[int], list[np.ndarray], bool]:
    """(timestamps, grey images, complete) of every frame of one size (the first frame's)."""
    times: list[int] = []
    images: list[np.ndarray] = []
    used = 0
    while (frame := recording.getNextFrame()) is not None:
        image = _grey(np.asarray(frame.image))
        if images and image.shape != images[0].shape:
            continue  # a region-of-interest frame: not the whole sensor
        used += image.nbytes
        if used > max_bytes:
            return times, images, False
        times.append(int(frame.timestamp))
        images.append(image)
    return times, images, True


def _grey(image: np.ndarray) -> np.ndarray:
    """HxW uint8 (a colour DAVIS gives HxWx3 BGR; the mean is close enough to show it)."""
    if image.ndim == 3:
        image = image[..., 0] if image.shape[2] == 1 else image.mean(axis=2)
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image)


grey_image = _grey  # live cameras' frames are shown the same way (io.dv.readers)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else type(exc).__name__
