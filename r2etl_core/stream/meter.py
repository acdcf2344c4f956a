"""What the engine counts while it runs: events in, slices done and dropped, rates over the
last second, step and events-to-prediction latency over the last 500 slices.

Not thread-safe by itself: the engine calls it under its own lock, and ``snapshot`` copies
what it needs so the percentiles are computed outside that lock (the model thread waits on it).
"""

from __future__ import annotations

import collections
import time
import numpy as np

from r2etl_core.types import Prediction


class EngineMeter:
    def __init__(self, window: int = 500):
        self.events_in = 0
        self.dropped = 0
        self.done = 0
        self._events: collections.deque[tuple[float, int]] = collections.deque(maxlen=4096)
        self._slices: collections.deque[float] = collections.deque(maxlen=4096)
        self._model_ms: collections.deque[float] = collections.deque(maxlen=window)
        self._latency_ms: collections.deque[float] = collections.deque(maxlen=window)

    def count_events(self, n: int) -> None:
        self.events_in += n
        self._events.append((time.monotonic(), n))

    def count_prediction(self, prediction: Prediction) -> None:
        self.done += 1
        self._slices.append(prediction.wall_time_s)
        self._model_ms.append(prediction.timings.model_ms)
        self._latency_ms.append(prediction.latency_ms)

    def copy(self) -> tuple:
        """The raw numbers (cheap; call under the engine's lock)."""
        return (list(self._events), list(self._slices), list(self._model_ms), list(self._latency_ms),
                self.events_in, self.done, self.dropped)

    @staticmethod
    def snapshot(raw: tuple) -> dict:
        """Rates and percentiles from ``copy()`` (outside the lock): ``EngineStats`` fields."""
        events, slices, model, latency, events_in, done, dropped = raw
        now = time.monotonic()
        m50, m99 = np.percentile(model or [0.0], [50, 99])
        l50, l99 = np.percentile(latency or [0.0], [50, 99])
        return dict(
            events_in=events_in, events_per_s=float(sum(n for t, n in events if now - t <= 1.0)),
            slices_done=done, slices_per_s=float(sum(1 for t in slices if now - t <= 1.0)),
            dropped=dropped, model_ms_p50=float(m50), model_ms_p99=float(m99),
            latency_ms_p50=float(l50), latency_ms_p99=float(l99))
