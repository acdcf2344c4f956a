"""Labelling by hand: the segment list behind the viewer's label bar, and its sidecar writes.

The viewer marks labels with key presses while a stream plays, into a new recording or over
an open one. Where a segment starts and ends, how it cuts the segments it overlaps and what
undo restores must hold whatever the GUI does, so that logic is here, Qt-free and tested
(tests/test_label_editing.py). The file format stays ``r2etl_core.io.labels``'.

``LabelEditor.mark(label, t_us)`` ends the open segment at ``t_us`` and starts one of
``label`` there; ``mark(None, t_us)`` only ends it ("none"). A segment that ends cuts what it
overlaps (split, trimmed or removed), so the list stays sorted and non-overlapping. Each mark
is one undo step. Times are whatever the caller labels in: absolute event timestamps.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Sequence

from r2etl_core.errors import InputError
from r2etl_core.io.files import atomic_write
from r2etl_core.io.labels import SUFFIX, LabelSegment, write_labels

# End of the open segment as the views see it: it grows with the stream, and the views only
# look up times up to the newest slice, so "until further notice" reads as "until now".
OPEN_END_US = 2**62
UNDO_STEPS = 1000
MAX_NAME_CHARS = 60  # a class name on a button; also keeps the sidecar well inside its limits
# Keys a class may get, in order: digits as on the keyboard's top row, then letters. "c" is
# left out: it centres the ROI in the event view.
KEY_ORDER = "1234567890abdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class OpenSegment:
    start_us: int
    label: str


@dataclass(frozen=True)
class LabelState:
    """Committed segments (sorted, non-overlapping) and the segment being marked, if any."""

    segments: tuple[LabelSegment, ...] = ()
    open: OpenSegment | None = None

    def closed_at(self, t_us: int) -> "LabelState":
        """The open segment ended at ``t_us`` (dropped when it would be empty)."""
        if self.open is None:
            return self
        if t_us <= self.open.start_us:
            return LabelState(self.segments)
        return LabelState(insert(self.segments, LabelSegment(self.open.start_us, int(t_us), self.open.label)))


def cut(segments: Sequence[LabelSegment], start_us: int, end_us: int) -> tuple[LabelSegment, ...]:
    """``segments`` with ``[start_us, end_us)`` removed: overlapped ones are trimmed or split."""
    out: list[LabelSegment] = []
    for seg in segments:
        if seg.end_us <= start_us or seg.start_us >= end_us:
            out.append(seg)
            continue
        if seg.start_us < start_us:
            out.append(LabelSegment(seg.start_us, start_us, seg.label))
        if seg.end_us > end_us:
            out.append(LabelSegment(end_us, seg.end_us, seg.label))
    return tuple(out)


def insert(segments: Sequence[LabelSegment], segment: LabelSegment) -> tuple[LabelSegment, ...]:
    """``segment`` added to sorted ``segments``, cutting whatever it overlaps."""
    kept = cut(segments, segment.start_us, segment.end_us)
    i = bisect.bisect_left(kept, segment.start_us, key=lambda s: s.start_us)
    return kept[:i] + (segment,) + kept[i:]


def segment_problem(segments: Sequence[LabelSegment]) -> str | None:
    """Why ``segments`` would not make a valid sidecar (None when they would)."""
    for i, seg in enumerate(segments):
        if seg.end_us <= seg.start_us:
            return f"segment {i + 1} ({seg.label}) ends at {seg.end_us}, not after its start {seg.start_us}"
        if not seg.label.strip() or seg.label != seg.label.strip() or "\n" in seg.label or "\r" in seg.label:
            return f"segment {i + 1} has an unusable label {seg.label!r}"
        if i and seg.start_us < segments[i - 1].end_us:
            before = segments[i - 1]
            return (f"segments {i} and {i + 1} are not sorted or overlap: {before.label} "
                    f"[{before.start_us}, {before.end_us}) and {seg.label} starting at {seg.start_us}")
    return None


class LabelEditor:
    """Segments edited by marks, with undo. Not thread-safe: the GUI thread owns it."""

    def __init__(self, segments: Iterable[LabelSegment] = ()):
        ordered = tuple(sorted(segments, key=lambda s: s.start_us))
        problem = segment_problem(ordered)
        if problem:
            raise ValueError(problem)
        self.state = LabelState(ordered)
        self._undo: list[LabelState] = []

    @property
    def segments(self) -> tuple[LabelSegment, ...]:
        """The committed segments (what the sidecar holds)."""
        return self.state.segments

    @property
    def open(self) -> OpenSegment | None:
        return self.state.open

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    def mark(self, label: str | None, t_us: int) -> bool:
        """End the open segment at ``t_us`` and start one of ``label`` there (None: only end).
        False when nothing changed (the label already open, or "none" with nothing open)."""
        state = self.state
        if label is not None and state.open is not None and state.open.label == label:
            return False
        new = state.closed_at(int(t_us))
        if label is not None:
            new = replace(new, open=OpenSegment(int(t_us), label))
        if new == state:
            return False
        self._undo.append(state)
        del self._undo[:-UNDO_STEPS]
        self.state = new
        return True

    def undo(self) -> bool:
        """Back to the state before the last mark; False when there is none."""
        if not self._undo:
            return False
        self.state = self._undo.pop()
        return True

    def segments_until(self, t_us: int) -> tuple[LabelSegment, ...]:
        """What to save now: the committed segments, the open one ended at ``t_us``."""
        return self.state.closed_at(int(t_us)).segments

    def view_segments(self) -> tuple[LabelSegment, ...]:
        """What the views show: the open segment runs on (``OPEN_END_US``) over later ones."""
        return self.state.closed_at(OPEN_END_US).segments if self.open is not None else self.segments


def sidecar_path(recording: str | Path) -> Path:
    """``<stem>.labels.csv`` beside ``recording``, whether it exists or not."""
    path = Path(recording)
    return path.with_name(path.name[: -len(path.suffix)] + SUFFIX if path.suffix else path.name + SUFFIX)


def write_sidecar(path: str | Path, segments: Sequence[LabelSegment]) -> Path:
    """Write a labels sidecar atomically (a crash never leaves half a file); InputError when
    the segments are not a valid sidecar or the file cannot be written."""
    path = Path(path)
    problem = segment_problem(segments)
    if problem:
        raise InputError(path, f"labels not saved: {problem}")
    try:
        with atomic_write(path) as tmp:
            write_labels(tmp, segments)
    except OSError as exc:
        raise InputError(path, f"cannot write labels ({exc.strerror or type(exc).__name__})") from None
    return path


def parse_class_names(text: str) -> tuple[str, ...]:
    """Class names typed as ``a, b, c``: stripped, duplicates and empties dropped; InputError
    on a name too long for a button."""
    names: list[str] = []
    for part in text.split(","):
        name = part.strip()
        if len(name) > MAX_NAME_CHARS:
            raise InputError("class names", f"{name[:20]}... is longer than {MAX_NAME_CHARS} characters")
        if name and name not in names:
            names.append(name)
    return tuple(names)


def label_keys(names: Sequence[str]) -> tuple[str | None, ...]:
    """The key of each class: a one-character name that is a key keeps it ("3" is key 3);
    the others take the next free key of ``KEY_ORDER``; None once keys run out."""
    keys: list[str | None] = [None] * len(names)
    taken: set[str] = set()
    for i, name in enumerate(names):
        key = name.lower()
        if len(key) == 1 and key in KEY_ORDER and key not in taken:
            keys[i] = key
            taken.add(key)
    free = (k for k in KEY_ORDER if k not in taken)
    for i in range(len(names)):
        if keys[i] is None:
            keys[i] = next(free, None)
    return tuple(keys)
