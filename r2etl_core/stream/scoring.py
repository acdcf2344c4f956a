"""Scoring predictions against labelled segments of a recording (labels sidecar)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Protocol, Sequence

from r2etl_core.types import Prediction


class Segment(Protocol):
    start_us: int
    end_us: int
    label: str


@dataclass(frozen=True)
class SegmentScore:
    segments: int  # labelled segments that received at least one prediction
    correct: int
    slice_accuracy: float  # fraction of slices (with events, inside a segment) predicted right

    @property
    def accuracy(self) -> float:
        return self.correct / self.segments if self.segments else 0.0


def segment_of(segments: Sequence[Segment], t_us: int) -> Segment | None:
    for seg in segments:
        if seg.start_us <= t_us < seg.end_us:
            return seg
    return None


def score_segments(predictions: Iterable[Prediction], segments: Sequence[Segment]) -> SegmentScore:
    """A segment is right when the majority of the predictions of its slices (those whose
    middle falls inside it and that saw events) names its label."""
    votes: dict[int, Counter] = {}
    hits = total = 0
    for pred in predictions:
        if pred.event_count == 0:
            continue
        mid = (pred.t_start_us + pred.t_end_us) // 2
        for i, seg in enumerate(segments):
            if seg.start_us <= mid < seg.end_us:
                votes.setdefault(i, Counter())[pred.top_label] += 1
                total += 1
                hits += pred.top_label == str(seg.label)
                break
    correct = sum(1 for i, c in votes.items() if c.most_common(1)[0][0] == str(segments[i].label))
    return SegmentScore(len(votes), correct, hits / total if total else 0.0)
