"""Synthetic events for tests and benchmarks: one helper, deterministic by seed."""

from __future__ import annotations

import numpy as np

from r2etl_core.types import EventBatch


def random_events(n: int, width: int = 34, height: int = 34, duration_us: int = 300_000,
                  t0_us: int = 0, seed: int = 0) -> EventBatch:
    """``n`` uniformly scattered events over ``duration_us``, time-sorted."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(t0_us, t0_us + duration_us, n, dtype=np.int64))
    return EventBatch(t, rng.integers(0, width, n).astype(np.int16),
                      rng.integers(0, height, n).astype(np.int16),
                      rng.integers(0, 2, n).astype(np.int8), width, height)


def moving_bar(width: int = 64, height: int = 48, duration_us: int = 200_000, rate_per_ms: int = 50,
               t0_us: int = 0, seed: int = 0) -> EventBatch:
    """A vertical edge sweeping left to right: ON events on its leading side, OFF trailing."""
    rng = np.random.default_rng(seed)
    n = duration_us * rate_per_ms // 1000
    t = np.sort(rng.integers(t0_us, t0_us + duration_us, n, dtype=np.int64))
    pos = ((t - t0_us) * (width - 1)) // max(duration_us, 1)
    p = rng.integers(0, 2, n).astype(np.int8)
    x = np.clip(pos + np.where(p == 1, 1, -1), 0, width - 1).astype(np.int16)
    y = rng.integers(0, height, n).astype(np.int16)
    return EventBatch(t, x, y, p, width, height)


class ArraySource:
    """A ``Source`` over events already in memory (tests, benchmarks): unpaced, chunked."""

    playback = None
    end_reason = None

    def camera_frames(self) -> None:
        return None

    def __init__(self, events: EventBatch, chunk: int = 4096, name: str = "memory", segments: tuple = ()):
        from r2etl_core.types import SourceInfo

        self.events = events
        self.segments = tuple(segments)
        self.chunk = chunk
        self._closed = False
        duration = events.t_last_us - events.t_first_us if len(events) else 0
        self.info = SourceInfo("memory", name, events.width, events.height, "synthetic",
                               duration, events.t_first_us, len(events))

    def batches(self):
        for lo in range(0, len(self.events), self.chunk):
            if self._closed:
                return
            yield self.events.select(slice(lo, lo + self.chunk))

    def close(self) -> None:
        self._closed = True
