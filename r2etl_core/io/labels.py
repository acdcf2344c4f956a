"""Ground-truth labels of a recording: the ``<recording stem>.labels.csv`` sidecar.

Format (UTF-8 CSV, one header line, then one row per labelled segment)::

    start_us,end_us,label
    1633953690975950,1633953691030000,3

Times are ABSOLUTE event timestamps in microseconds, exactly as the recording's events carry
them (the same numbers ``EventBatch.t`` and ``Prediction.t_start_us`` hold), not offsets from
the recording start. A segment covers ``[start_us, end_us)``. Segments must not overlap; they
may come in any order and are returned sorted. Blank lines are ignored.

A looped or sought file source shifts its timestamps by whole recording periods; map them
back with ``FileSource.recording_time_us`` before looking a label up.
"""

from __future__ import annotations

import bisect
import contextlib
import csv
import gc
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from r2etl_core.errors import InputError
from r2etl_core.io.files import check_input_file
from r2etl_core.io.label_columns import Columns, parse_plain
from r2etl_core.parse import brief, shown

HEADER = ("start_us", "end_us", "label")
SUFFIX = ".labels.csv"
# Label of a stretch with no digit, only sensor noise: a live camera never goes silent, so
# continuous test streams (r2etl_core.train.datasets.continuous) label the gaps explicitly.
IDLE_LABEL = "idle"
# Label of a stretch showing something that is none of the model's classes (a hand, a room): the
# right answer there is "unknown". Training also reads "none" this way (own classes: negatives).
UNKNOWN_LABEL = "unknown"
NEGATIVE_LABELS = (UNKNOWN_LABEL, "none")
MAX_LABEL_CHARS = 200  # a class name; a longer field is a broken file, not a label
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1  # event timestamps are int64
# Characters only the csv module handles as the row-by-row reader did (quotes; NULs; line
# breaks other than \n that str.splitlines honours); a file holding one skips the fast path.
_CSV_ONLY = ('"', "\x00", "\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


@dataclass(frozen=True)
class LabelSegment:
    start_us: int
    end_us: int
    label: str

    def contains(self, t_us: int) -> bool:
        return self.start_us <= t_us < self.end_us


def outside_events(segments: Sequence[LabelSegment], first_us: int, last_us: int) -> str | None:
    """Why the labels do not describe these events (a segment entirely outside ``[first_us,
    last_us]``, usually times written from 0), or None. Training refuses such a sidecar and
    classify warns with the same words."""
    for seg in segments:
        if seg.end_us <= first_us or seg.start_us > last_us:
            return (f"segment '{seg.label}' [{seg.start_us}, {seg.end_us}) lies outside the recording's events "
                    f"[{first_us}, {last_us}]: label times are absolute event timestamps, not offsets from the start")
    return None


def labels_path_for(recording: str | Path) -> Path | None:
    """The sidecar ``<stem>.labels.csv`` beside ``recording`` if it exists, else None.

    Accepts any input spec: a camera or ``host:port`` simply has no sidecar."""
    path = Path(recording)
    if not path.suffix:
        return None
    sidecar = path.with_name(path.name[: -len(path.suffix)] + SUFFIX)
    return sidecar if sidecar.is_file() else None


def _parse_row(row: list[str], line: int, where: Path) -> tuple[int, int, str]:
    """The one definition of a good row; every row error message comes from here."""
    if len(row) != 3:
        raise InputError(where, f"line {line}: expected 3 fields start_us,end_us,label, got {len(row)}")
    try:
        start, end = int(row[0]), int(row[1])
    except ValueError:
        raise InputError(where, f"line {line}: start_us and end_us must be whole microseconds, "
                                f"got {shown(row[0])}, {shown(row[1])}") from None
    if not (_INT64_MIN <= start <= _INT64_MAX and _INT64_MIN <= end <= _INT64_MAX):
        raise InputError(where, f"line {line}: start_us and end_us must fit in 64 bits, "
                                f"got {shown(start)}, {shown(end)}")
    label = row[2].strip()
    if not label:
        raise InputError(where, f"line {line}: empty label")
    if len(label) > MAX_LABEL_CHARS:
        raise InputError(where, f"line {line}: label is {len(label):,} characters long (at most {MAX_LABEL_CHARS})")
    if end <= start:
        raise InputError(where, f"line {line}: end_us {end} is not after start_us {start}")
    return start, end, label


def read_labels(path: str | Path) -> list[LabelSegment]:
    """Segments of a labels file, sorted by start; InputError naming the line on bad rows.

    Plain files (no quotes) are parsed column-wise, which is ~10x faster than row by row (3
    million rows in seconds, not most of a minute); anything unusual, including any bad row,
    goes through the csv module and ``_parse_row``, so the accepted files and the error
    messages are those of the row-by-row reader."""
    path = check_input_file(path, "labels file", allow_empty=True)
    try:
        text = path.read_text(encoding="utf-8-sig")  # spreadsheet programs start UTF-8 with a BOM
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read labels file ({exc.__class__.__name__})") from None
    columns = _fast_columns(text)
    return _segments(*(columns if columns is not None else _csv_columns(text, path)), path)


def _fast_columns(text: str) -> Columns | None:
    """(starts, ends, labels) of a quote-free file whose rows are all plain and good; None when
    the text needs the csv module (quotes, NULs, unusual line breaks) or holds any bad row."""
    text = text.replace("\r\n", "\n")
    if any(c in text for c in _CSV_ONLY):
        return None
    return parse_plain(text, HEADER, MAX_LABEL_CHARS)


def _csv_columns(text: str, path: Path) -> Columns:
    """(starts, ends, labels) read row by row with the csv module; InputError at the first bad line."""
    reader = csv.reader(text.splitlines())
    rows = []
    try:
        for n, row in enumerate(reader, start=1):
            if row:
                rows.append((n, row))
    except csv.Error as exc:
        problem = (f"a field is longer than {csv.field_size_limit():,} characters" if "field limit" in str(exc)
                   else f"not a valid CSV row ({brief(exc)})")
        raise InputError(path, f"line {reader.line_num}: {problem}") from None
    if not rows or tuple(field.strip() for field in rows[0][1]) != HEADER:
        raise InputError(path, "labels file must start with the header line start_us,end_us,label")
    parsed = [_parse_row(row, n, path) for n, row in rows[1:]]
    starts = np.asarray([p[0] for p in parsed], np.int64)
    ends = np.asarray([p[1] for p in parsed], np.int64)
    return starts, ends, [p[2] for p in parsed]


def _segments(starts: np.ndarray, ends: np.ndarray, labels: list[str], path: Path) -> list[LabelSegment]:
    """Segments sorted by start (stable, as ``sorted``); InputError at the first overlap."""
    if len(starts) > 1 and np.any(starts[1:] < starts[:-1]):
        order = np.argsort(starts, kind="stable")
        starts, ends, labels = starts[order], ends[order], [labels[i] for i in order.tolist()]
    overlap = np.flatnonzero(starts[1:] < ends[:-1])
    if overlap.size:
        i = int(overlap[0])
        raise InputError(path, f"segments overlap: {labels[i]} [{starts[i]}, {ends[i]}) and "
                               f"{labels[i + 1]} starting at {starts[i + 1]}")
    with _gc_paused():
        return list(map(_new_segment, starts.tolist(), ends.tolist(), labels))


def _fill_segment(start_us: int, end_us: int, label: str, _new=object.__new__) -> LabelSegment:
    """``LabelSegment(start_us, end_us, label)`` for millions of rows: a frozen dataclass's
    ``__init__`` sets each field through ``object.__setattr__``; filling the instance dict
    directly is the same object, ~1.5x faster to make."""
    segment = _new(LabelSegment)
    segment.__dict__.update(start_us=start_us, end_us=end_us, label=label)
    return segment


# only while LabelSegment stays a plain frozen dataclass (no slots, no __post_init__ to skip)
_new_segment = LabelSegment if hasattr(LabelSegment, "__slots__") or hasattr(LabelSegment, "__post_init__") \
    else _fill_segment


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of objects are made: each collection
    rescans everything made so far, which costs more than making them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def write_labels(path: str | Path, segments: Iterable[LabelSegment]) -> Path:
    """Write a labels file (e.g. N-MNIST ground truth next to a recording made from it)."""
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for seg in sorted(segments, key=lambda s: s.start_us):
            writer.writerow((seg.start_us, seg.end_us, seg.label))
    return path


def segment_index(segments: Sequence[LabelSegment], t_us: int) -> int | None:
    """Index of the segment covering ``t_us`` in sorted, non-overlapping ``segments``, or None.
    The one segment lookup of the project (scoring, the viewer's true label, training windows)."""
    i = bisect.bisect_right(segments, t_us, key=lambda s: s.start_us) - 1
    if i >= 0 and segments[i].start_us <= t_us < segments[i].end_us:
        return i
    return None


def label_at(segments: Sequence[LabelSegment], t_us: int) -> str | None:
    """Label of the segment covering ``t_us`` (sorted, non-overlapping ``segments``), or None."""
    i = segment_index(segments, t_us)
    return None if i is None else segments[i].label
