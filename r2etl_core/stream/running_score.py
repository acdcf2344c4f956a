"""Running accuracy against a labels sidecar, computed incrementally.

Each labelled segment is scored with ``r2etl_core.stream.scoring.score_segments`` once the stream
has moved past it, so the cost per display tick does not grow with the session's length.
A looped file plays its segments again; every pass of a segment counts as one more sample.
Prediction times are first mapped back into recording time (``time_map``), because a looped
or sought file source shifts its timestamps (see ``r2etl_core.io.labels``).
"""

from __future__ import annotations

import bisect
from dataclasses import replace
from typing import Callable, Sequence

from r2etl_core.stream.scoring import score_segments
from r2etl_core.types import Prediction


def identity(t_us: int) -> int:
    return t_us


class RunningScore:
    def __init__(self, segments: Sequence, time_map: Callable[[int], int] = identity):
        self.segments = tuple(segments)
        self.time_map = time_map
        self._starts = [seg.start_us for seg in self.segments]
        self._current: int | None = None
        self._pending: list[Prediction] = []
        self.samples = 0  # segments passes scored
        self.correct = 0
        self.slices = 0
        self.slice_hits = 0

    def to_recording_time(self, pred: Prediction) -> Prediction:
        mid = (pred.t_start_us + pred.t_end_us) // 2
        shift = self.time_map(mid) - mid
        if shift == 0:
            return pred
        return replace(pred, t_start_us=pred.t_start_us + shift, t_end_us=pred.t_end_us + shift)

    def segment_index(self, t_us: int) -> int | None:
        i = bisect.bisect_right(self._starts, t_us) - 1
        if i >= 0 and self.segments[i].start_us <= t_us < self.segments[i].end_us:
            return i
        return None

    def label_at(self, pred: Prediction) -> str | None:
        """True label at ``pred`` (already in recording time), or None between segments."""
        i = self.segment_index((pred.t_start_us + pred.t_end_us) // 2)
        return None if i is None else str(self.segments[i].label)

    def add(self, pred: Prediction) -> None:
        """``pred`` in recording time. Slices without events do not vote (as in scoring)."""
        if pred.event_count == 0:
            return
        i = self.segment_index((pred.t_start_us + pred.t_end_us) // 2)
        if i is None:
            return
        if i != self._current:
            self.finish_segment()
            self._current = i
        self._pending.append(pred)

    def finish_segment(self) -> None:
        if self._current is None or not self._pending:
            return
        score = score_segments(self._pending, [self.segments[self._current]])
        self.samples += score.segments
        self.correct += score.correct
        self.slices += len(self._pending)
        self.slice_hits += round(score.slice_accuracy * len(self._pending))
        self._pending, self._current = [], None

    @property
    def accuracy(self) -> float:
        return self.correct / self.samples if self.samples else 0.0

    @property
    def slice_accuracy(self) -> float:
        return self.slice_hits / self.slices if self.slices else 0.0

    def summary(self) -> str:
        if not self.samples:
            return "running accuracy: waiting for the first labelled sample to end"
        return (f"running accuracy: {self.correct}/{self.samples} samples ({self.accuracy:.0%}), "
                f"{self.slice_accuracy:.0%} of slices")
