"""Paced, controllable replay of a recorded timeline (the base of file-like sources).

``ReplaySource`` paces batches by event time and offers pause / resume / speed / seek / loop
controls that any thread may call while another thread iterates ``batches()``. Timestamps
never go backwards: looping, or seeking back, continues in a later "pass" whose events are
shifted by whole periods (``stream time = recording time + k * period_us``;
``recording_time_us`` maps back, for labels). A seek while streaming yields ``protocols.SEEK``
in band before the first batch from the new position.
"""

from __future__ import annotations

import threading
import time
from typing import Iterator

import numpy as np

from r2etl_core.parse import check_speed
from r2etl_core.protocols import SEEK, SeekMark
from r2etl_core.types import EventBatch, SourceInfo

PACED_CHUNK_US = 4_000  # event time per batch when paced at 1x: smooth without per-event cost
PACED_SILENCE_MAX_US = 10_000_000  # a longer silence is replayed as this much event time
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
        start = 0  # from the beginning, or from a seek made before the stream started
        while True:
            with self._cond:
                if self._closed:
                    return
                jumped = self._seek_to is not None
                if jumped:
                    start = self._take_seek()
            if jumped:  # in band, every time (even before the first batch): what follows is from there
                yield SEEK
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
