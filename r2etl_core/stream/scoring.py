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

import numpy as np

from r2etl_core.io.labels import IDLE_LABEL, NEGATIVE_LABELS, segment_index
from r2etl_core.protocols import LabelledSpan
from r2etl_core.types import ABSTAIN_NOTHING, ABSTAIN_UNKNOWN, NOTHING_ANSWER, UNKNOWN_ANSWER, Prediction


def expected_answer(segment: LabelledSpan) -> str:
    """What a right prediction says inside ``segment`` (``Prediction.answer``): its class,
    "nothing" inside an idle (noise-only) segment, "unknown" inside one of none of the classes."""
    label = str(segment.label)
    if label == IDLE_LABEL:
        return NOTHING_ANSWER
    return UNKNOWN_ANSWER if label in NEGATIVE_LABELS else label


def expected_label(segment: LabelledSpan) -> str | None:
    """The class a segment shows, None for idle and none-of-the-classes segments."""
    answer = expected_answer(segment)
    return None if answer in (NOTHING_ANSWER, UNKNOWN_ANSWER) else answer


@dataclass(frozen=True)
class SegmentScore:
    segments: int  # labelled segments that received at least one prediction
    correct: int
    slice_accuracy: float  # fraction of slices (with events, inside a segment) predicted right
    settle_ms: tuple[float, ...] = ()  # per object segment: until right for the rest of it
    abstained_in_objects: float = 0.0  # fraction of object-segment slices with no decision
    abstained_in_idle: float = 0.0  # fraction of idle-segment slices with no decision
    unknown_in_objects: float = 0.0  # ... of object-segment slices answered "unknown"
    nothing_in_objects: float = 0.0  # ... of object-segment slices answered "nothing there"
    unknown_in_unknown: float = 0.0  # fraction of "unknown"-segment slices answered "unknown"

    @property
    def accuracy(self) -> float:
        return self.correct / self.segments if self.segments else 0.0

    @property
    def settle_ms_p50(self) -> float | None:
        return float(np.median(self.settle_ms)) if self.settle_ms else None


def score_segments(predictions: Iterable[Prediction], segments: Sequence[LabelledSpan]) -> SegmentScore:
    """A segment is right when the majority of the predictions of its slices (those whose
    middle falls inside it and that saw events) is what it expects (``expected_label``):
    "no decision" counts as wrong inside an object's segment; inside an idle one only "nothing
    there" is right, inside an ``unknown`` one only "unknown" (``expected_answer``).
    ``segments`` sorted."""
    by_segment: dict[int, list[Prediction]] = {}
    for pred in predictions:
        if pred.event_count == 0:
            continue
        i = segment_index(segments, (pred.t_start_us + pred.t_end_us) // 2)
        if i is not None:
            by_segment.setdefault(i, []).append(pred)
    correct = hits = total = 0
    settle: list[float] = []
    kinds = (NOTHING_ANSWER, UNKNOWN_ANSWER, "object")
    tally = {k: Counter() for k in kinds}  # segment kind -> abstain reason -> slices
    for i, preds in by_segment.items():
        want = expected_answer(segments[i])
        votes = Counter(p.answer for p in preds)
        correct += votes.most_common(1)[0][0] == want
        right = [p.answer == want for p in preds]
        hits += sum(right)
        total += len(preds)
        kind = want if want in (NOTHING_ANSWER, UNKNOWN_ANSWER) else "object"
        tally[kind].update(p.abstain for p in preds)
        if kind == "object":
            settle.append(_settle_ms(preds, right, segments[i]))

    def share(kind: str, *reasons: str) -> float:
        n = sum(tally[kind].values())
        return sum(tally[kind][r] for r in reasons) / n if n else 0.0

    both = (ABSTAIN_NOTHING, ABSTAIN_UNKNOWN)
    return SegmentScore(len(by_segment), correct, hits / total if total else 0.0, tuple(settle),
                        share("object", *both), share(NOTHING_ANSWER, *both), share("object", ABSTAIN_UNKNOWN),
                        share("object", ABSTAIN_NOTHING), share(UNKNOWN_ANSWER, ABSTAIN_UNKNOWN))


def _settle_ms(preds: list[Prediction], right: list[bool], segment: LabelledSpan) -> float:
    """From the segment's start until the prediction is right for the rest of it (the whole
    segment when the last slice is still wrong)."""
    if not right[-1]:
        return (segment.end_us - segment.start_us) / 1e3
    wrong = [p for p, ok in zip(preds, right) if not ok]
    if not wrong:
        return max(0.0, (preds[0].t_end_us - segment.start_us) / 1e3)
    return max(0.0, (wrong[-1].t_end_us - segment.start_us) / 1e3)


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
        return None if i is None else str(self.segments[i].label)  # "idle", "unknown" shown as such

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
