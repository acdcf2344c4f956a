"""Live dv inputs (a camera, a network stream) polled for event batches.

dv-processing 2.0.4: ``getNextEventBatch`` never blocks (it returns None until a whole packet
arrived), so ``close()`` and the stall watchdog always get their turn; after a network peer
closes, ``isRunning()`` turns False while packets received just before may still be queued.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Callable, Iterator

import numpy as np

from r2etl_core.errors import InputError
from r2etl_core.io.dv._common import _dv_reason, from_event_store, sensor_size_for
from r2etl_core.types import EventBatch

LIVE_FRAMES_KEPT = 8  # a live camera's newest frames kept for the view (a few hundred ms)


def _frames_available(dv_input) -> bool:
    """Whether a live input also streams frames (a DAVIS camera; not a DVXplorer, not a network
    stream, whose dv objects lack the call or answer False)."""
    try:
        return bool(dv_input.isFrameStreamAvailable())
    except (AttributeError, RuntimeError, TypeError):
        return False


class LiveReader:
    """Polls a dv camera or network input for event batches until it stops running.

    ``stopped_reason`` says why ``batches`` ended: "closed", "disconnected" (camera unplugged,
    network writer gone), "stalled" (nothing arrived for ``stall_s``: a peer that hangs, is
    stopped or vanished without closing the connection) or "error: ...". dv's
    ``getNextEventBatch`` never blocks (it returns None until a whole packet arrived, checked
    by tests/test_network_stall.py), so ``close()`` and the stall watchdog always get their turn.
    ``stopped_at`` is when it stopped (``time.monotonic()``).
    """

    def __init__(self, dv_input, where: str, stall_s: float | None = None,
                 damage: Callable[[], InputError | None] | None = None,
                 on_close: Callable[[], None] | None = None):
        """``damage``: why a network stream ended, asked when it disconnects (the relay's
        report: raised like a damaged file's); ``on_close``: run once reading has ended."""
        self._input, self.where, self.stall_s = dv_input, where, stall_s
        self._damage, self._on_close = damage, on_close
        self.camera = str(dv_input.getCameraName())
        size = dv_input.getEventResolution() or sensor_size_for(self.camera)
        if size is None:
            raise InputError(where, "the input does not report an event resolution")
        self.width, self.height = int(size[0]), int(size[1])
        self._stop = threading.Event()
        self._reading = False
        self.stopped_reason: str | None = None
        self.stopped_at: float | None = None
        self.has_frames = _frames_available(dv_input)  # a DAVIS camera's own grey-level frames
        self._frames: collections.deque[tuple[int, np.ndarray]] = collections.deque(maxlen=LIVE_FRAMES_KEPT)
        self._frames_lock = threading.Lock()

    def recent_frames(self) -> list[tuple[int, np.ndarray]]:
        """(timestamp us, HxW uint8) of the camera's newest frames, oldest first (any thread)."""
        with self._frames_lock:
            return list(self._frames)

    def _poll_frame(self) -> None:
        """Take a frame the camera has ready (the reading thread: dv inputs are not thread-safe)."""
        if not self.has_frames:
            return
        try:
            frame = self._input.getNextFrame()
        except (RuntimeError, IndexError):
            return
        if frame is not None:
            from r2etl_core.io.aps_frames import grey_image  # lazy: aps_frames imports io.dv

            with self._frames_lock:
                self._frames.append((int(frame.timestamp), grey_image(np.asarray(frame.image))))

    def batches(self, poll_s: float = 0.001) -> Iterator[EventBatch]:
        self._reading = True
        try:
            yield from self._poll(poll_s)
        finally:
            self.stopped_at = time.monotonic()
            self._input = None  # released by the reading thread: dv inputs are not thread-safe
            if self._on_close is not None:
                self._on_close()
        damage = self._damage() if self._damage is not None and self.stopped_reason == "disconnected" else None
        if damage is not None:
            self.stopped_reason = f"error: {damage.problem}"
            raise damage

    def _poll(self, poll_s: float) -> Iterator[EventBatch]:
        last_data = time.monotonic()
        while not self._stop.is_set() and self._input is not None:
            try:
                if not self._input.isRunning():
                    yield from self._queued()  # what arrived before the connection closed
                    self.stopped_reason = "disconnected"
                    return
                store = self._input.getNextEventBatch()
                self._poll_frame()
            except (RuntimeError, IndexError) as exc:
                # a device lost mid-read may raise instead of reporting isRunning() == False
                self.stopped_reason = f"error: {_dv_reason(exc)}"
                return
            if store is not None:
                last_data = time.monotonic()  # even an empty packet shows the peer is alive
            if store is None or len(store) == 0:
                if self.stall_s is not None and time.monotonic() - last_data >= self.stall_s:
                    self.stopped_reason = "stalled"
                    return
                self._stop.wait(poll_s)  # dv returns None until the next packet arrives
                continue
            yield from_event_store(store, self.width, self.height)
        self.stopped_reason = "closed"

    def _queued(self) -> Iterator[EventBatch]:
        """Packets dv had received when the input stopped (a peer that sends and closes at once)."""
        for _ in range(100_000):
            try:
                store = self._input.getNextEventBatch()
            except (RuntimeError, IndexError):
                return
            if store is None:
                return
            if len(store):
                yield from_event_store(store, self.width, self.height)

    def close(self) -> None:
        """Safe from any thread: a running ``batches`` returns (and releases) at its next poll."""
        self._stop.set()
        if not self._reading:
            self._input = None
            if self._on_close is not None:
                self._on_close()
