"""Scoring predictions against labelled segments of a recording (labels sidecar).

``score_segments`` scores a finished run (``r2etl classify``). ``RunningScore`` scores a live
session incrementally: each segment is scored once the stream has moved past it, so the cost
per display tick does not grow with the session's length. A looped file plays its segments
again; every pass counts as one more sample. Prediction times are first mapped back into
recording time (``time_map``), because a looped or sought file source shifts its timestamps
(see ``r2etl_core.io.labels``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Sequence

from r2etl_core.io.labels import segment_index
from r2etl_core.protocols import LabelledSpan
from r2etl_core.types import Prediction


@dataclass(frozen=True)
class SegmentScore:
    segments: int  # labelled segments that received at least one prediction
    correct: int
    slice_accuracy: float  # fraction of slices (with events, inside a segment) predicted right

    @property
    def accuracy(self) -> float:
        return self.correct / self.segments if self.segments else 0.0


def score_segments(predictions: Iterable[Prediction], segments: Sequence[LabelledSpan]) -> SegmentScore:
    """A segment is right when the majority of the predictions of its slices (those whose
    middle falls inside it and that saw events) names its label. ``segments`` sorted."""
    votes: dict[int, Counter] = {}
    hits = total = 0
    for pred in predictions:
        if pred.event_count == 0:
            continue
        i = segment_index(segments, (pred.t_start_us + pred.t_end_us) // 2)
        if i is None:
            continue
        votes.setdefault(i, Counter())[pred.top_label] += 1
        total += 1
        hits += pred.top_label == str(segments[i].label)
    correct = sum(1 for i, c in votes.items() if c.most_common(1)[0][0] == str(segments[i].label))
    return SegmentScore(len(votes), correct, hits / total if total else 0.0)


def identity(t_us: int) -> int:
    return t_us


class RunningScore:
    def __init__(self, segments: Sequence, time_map: Callable[[int], int] = identity):
        self.segments = tuple(segments)
        self.time_map = time_map
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

    def label_at(self, pred: Prediction) -> str | None:
        """True label at ``pred`` (already in recording time), or None between segments."""
        i = segment_index(self.segments, (pred.t_start_us + pred.t_end_us) // 2)
        return None if i is None else str(self.segments[i].label)

    def add(self, pred: Prediction) -> None:
        """``pred`` in recording time. Slices without events do not vote (as in scoring)."""
        if pred.event_count == 0:
            return
        i = segment_index(self.segments, (pred.t_start_us + pred.t_end_us) // 2)
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
