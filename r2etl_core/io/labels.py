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
import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from r2etl_core.errors import InputError

HEADER = ("start_us", "end_us", "label")
SUFFIX = ".labels.csv"
# Label of a stretch with no digit, only sensor noise: a live camera never goes silent, so
# continuous test streams (r2etl_core.train.datasets.continuous) label the gaps explicitly.
IDLE_LABEL = "idle"


@dataclass(frozen=True)
class LabelSegment:
    start_us: int
    end_us: int
    label: str

    def contains(self, t_us: int) -> bool:
        return self.start_us <= t_us < self.end_us


def labels_path_for(recording: str | Path) -> Path | None:
    """The sidecar ``<stem>.labels.csv`` beside ``recording`` if it exists, else None.

    Accepts any input spec: a camera or ``host:port`` simply has no sidecar."""
    path = Path(recording)
    if not path.suffix:
        return None
    sidecar = path.with_name(path.name[: -len(path.suffix)] + SUFFIX)
    return sidecar if sidecar.is_file() else None


def _parse_row(row: list[str], line: int, where: Path) -> LabelSegment:
    if len(row) != 3:
        raise InputError(where, f"line {line}: expected 3 fields start_us,end_us,label, got {len(row)}")
    try:
        start, end = int(row[0]), int(row[1])
    except ValueError:
        raise InputError(where, f"line {line}: start_us and end_us must be whole microseconds, "
                                f"got {row[0]!r}, {row[1]!r}") from None
    label = row[2].strip()
    if not label:
        raise InputError(where, f"line {line}: empty label")
    if end <= start:
        raise InputError(where, f"line {line}: end_us {end} is not after start_us {start}")
    return LabelSegment(start, end, label)


def read_labels(path: str | Path) -> list[LabelSegment]:
    """Segments of a labels file, sorted by start; InputError naming the line on bad rows."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(path, "labels file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read labels file ({exc.__class__.__name__})") from None
    rows = [(n, row) for n, row in enumerate(csv.reader(text.splitlines()), start=1) if row]
    if not rows or tuple(field.strip() for field in rows[0][1]) != HEADER:
        raise InputError(path, "labels file must start with the header line start_us,end_us,label")
    segments = sorted((_parse_row(row, n, path) for n, row in rows[1:]), key=lambda s: s.start_us)
    for before, after in zip(segments, segments[1:]):
        if after.start_us < before.end_us:
            raise InputError(path, f"segments overlap: {before.label} [{before.start_us}, "
                                   f"{before.end_us}) and {after.label} starting at {after.start_us}")
    return segments


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
