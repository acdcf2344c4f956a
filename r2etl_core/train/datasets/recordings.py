"""Labelled recordings — a lab's own camera clips — scanned, checked and split.

Every event file under a folder (sub-folders included; ``.aedat4`` and every other format
``io.eventfiles`` reads: ``.raw``, ``.dat``, ``.es``, ``.csv``, HDF5, ``.aedat``) must have its labels sidecar
``<stem>.labels.csv`` (``r2etl_core.io.labels``: absolute timestamps, ``idle`` for stretches
with nothing to learn). Problems a user can fix are one line naming the file: a recording
without labels, labels that differ only in case, segments outside the recording's time span
(relative instead of absolute times), a recording from another sensor than the others.

Validation takes WHOLE recordings (``split_by_recording``): windows cut from one recording
are near copies of each other, so a window-level split would grade the network on what it
has practically seen.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from r2etl_core.errors import InputError, R2ETLWarning
from r2etl_core.io.eventfiles import EVENT_FILE_SUFFIXES, event_file_info, is_event_file
from r2etl_core.io.labels import (
    IDLE_LABEL,
    NEGATIVE_LABELS,
    SUFFIX,
    LabelSegment,
    labels_path_for,
    outside_events,
    read_labels,
)
from r2etl_core.train.datasets.folders import check_case, class_sort_key, list_folder

RECORDING_SUFFIX = ".aedat4"  # what the viewer records
PART_SUFFIX = ".part.aedat4"  # what a recorder writes to until it stops (AedatWriter)
LAYOUT = (f"DIR/**/<name>.aedat4 (or {', '.join(EVENT_FILE_SUFFIXES[1:])}), each beside its "
          "<name>.labels.csv (start_us,end_us,label with the recording's absolute timestamps; 'idle' rows "
          "are skipped)")


@dataclass(frozen=True)
class Recording:
    """One labelled recording: ``segments`` are its labelled (not idle) segments, sorted."""

    path: Path
    rel: str  # path relative to the scanned folder, the recording's id in splits and hold-outs
    sidecar: Path
    segments: tuple[LabelSegment, ...]
    width: int
    height: int
    negatives: tuple[LabelSegment, ...] = ()  # stretches labelled "unknown"/"none": none of the classes

    @property
    def labels(self) -> frozenset[str]:
        return frozenset(seg.label for seg in self.segments)


@dataclass(frozen=True)
class RecordingSet:
    root: Path
    recordings: tuple[Recording, ...]
    class_names: tuple[str, ...]  # every label of every recording, numbers first, then by name
    sensor: tuple[int, int]  # width, height: the same for all (one model sees one geometry)

    def subset(self, rels: list[str] | tuple[str, ...]) -> "RecordingSet":
        """The recordings with these ids, in this order; the class list is kept."""
        by_rel = {rec.rel: rec for rec in self.recordings}
        unknown = [rel for rel in rels if rel not in by_rel]
        if unknown:
            raise InputError(self.root, f"{len(unknown)} listed recordings not found, e.g. {unknown[0]}")
        return RecordingSet(self.root, tuple(by_rel[rel] for rel in rels), self.class_names, self.sensor)


def _is_recording(path: Path) -> bool:
    """An event file; a ``.csv`` only with its labels sidecar: training writes other CSV files
    (``runs/*/metrics.csv``) that often end up inside the data folder."""
    if not (is_event_file(path) and path.is_file()):
        return False
    return path.suffix.lower() != ".csv" or labels_path_for(path) is not None


def find_recordings(root: Path, _seen: set[str] | None = None) -> list[Path]:
    """Event files under ``root``, sorted; hidden folders (``.git``, ...), labels sidecars and
    CSV files without a sidecar are skipped. Each folder and file is taken once by its real
    path: a symlink loop (``again -> .``) or a link to a recording already found would read it
    again and could put a copy of a training recording among the held-out ones."""
    seen = set() if _seen is None else _seen
    seen.add(os.path.realpath(root))
    found: list[Path] = []
    for entry in sorted(list_folder(root)):
        if entry.name.startswith("."):
            continue
        real = os.path.realpath(entry)
        if real in seen:
            continue
        if entry.is_dir():
            found += find_recordings(entry, seen)
        elif _is_recording(entry):
            seen.add(real)
            found.append(entry)
    return found


def read_recording(path: Path, root: Path) -> Recording:
    """The recording's sensor and labelled segments; InputError naming the file when unusable."""
    if path.name.endswith(PART_SUFFIX):
        raise InputError(path, "an unfinished recording (its recorder did not stop cleanly): recover it, or move "
                               "it out of this folder")
    sidecar = labels_path_for(path)
    if sidecar is None:
        stem = path.name[: -len(path.suffix)]
        raise InputError(path, f"no labels sidecar {stem}{SUFFIX} beside it: label the recording "
                               "(in the viewer, press the class's number key while recording) or move it "
                               "out of this folder")
    segments = read_labels(sidecar)  # overlapping and inverted segments are its one-line errors
    info = event_file_info(path)
    problem = outside_events(segments, info.t_first_us, info.t_last_us)
    if problem:
        raise InputError(sidecar, problem)
    segments = clip_to_events(segments, info.t_first_us, info.t_last_us + 1, sidecar)
    labelled = tuple(seg for seg in segments if seg.label != IDLE_LABEL and seg.label not in NEGATIVE_LABELS)
    negatives = tuple(seg for seg in segments if seg.label in NEGATIVE_LABELS)
    check_case(sorted({seg.label for seg in labelled}), sidecar)
    return Recording(path, path.relative_to(root).as_posix(), sidecar, labelled, info.width, info.height, negatives)


def clip_to_events(segments: list[LabelSegment], first_us: int, end_us: int, sidecar: Path) -> list[LabelSegment]:
    """Segments cut to the recording's events ``[first_us, end_us)``: a segment running past
    the last event (to 2**63-1, or 1000 s on) would make thousands of empty training windows.
    One that was mostly outside is reported (a warning): its label times are probably wrong."""
    out = []
    for seg in segments:
        start, end = max(seg.start_us, first_us), min(seg.end_us, end_us)
        if (end - start) * 2 < seg.end_us - seg.start_us:
            warnings.warn(R2ETLWarning(
                f"{sidecar}: segment '{seg.label}' [{seg.start_us}, {seg.end_us}) lies mostly outside the "
                f"recording's events [{first_us}, {end_us - 1}]: trained on [{start}, {end}) only"), stacklevel=2)
        out.append(LabelSegment(start, end, seg.label))
    return out


def scan_recordings(root: str | Path) -> RecordingSet:
    """Every labelled recording under ``root``, checked (see the module docstring)."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, f"{'is a file, expected' if root.exists() else 'not found, expected'} a folder "
                               f"of labelled recordings: {LAYOUT}")
    paths = find_recordings(root)
    if not paths:
        raise InputError(root, f"no event recordings found. Expected layout: {LAYOUT}")
    recordings = tuple(read_recording(p, root) for p in paths)
    first = recordings[0]
    for rec in recordings[1:]:
        if (rec.width, rec.height) != (first.width, first.height):
            raise InputError(rec.path, f"sensor {rec.width}x{rec.height}, but {first.rel} is "
                                       f"{first.width}x{first.height}: one training set holds one camera's "
                                       "recordings")
    names = sorted({label for rec in recordings for label in rec.labels}, key=class_sort_key)
    if not names:
        raise InputError(root, f"no labelled segments (only '{IDLE_LABEL}' or none) in {len(recordings)} "
                               "recordings: nothing to learn")
    check_case_across(recordings)
    return RecordingSet(root, recordings, tuple(names), (first.width, first.height))


def check_case_across(recordings: tuple[Recording, ...]) -> None:
    """A label spelt in another case than in an earlier recording: the later sidecar is named."""
    seen: dict[str, tuple[str, Recording]] = {}
    for rec in recordings:
        for label in sorted(rec.labels):
            name, first = seen.setdefault(label.lower(), (label, rec))
            if name != label:
                raise InputError(rec.sidecar, f"label '{label}' differs only in case from '{name}' in "
                                              f"{first.rel}: use one spelling")


def split_by_recording(recordings: RecordingSet, every: int, fold: int = 0) -> tuple[list[str], list[str]]:
    """(train, validation) recording ids: about one recording in ``every`` of each class is held
    out whole, never a class's last training recording. Recordings at sorted index
    ``k % every == fold`` are offered first, so one clip per recording reduces to every-nth and
    each fold (``--val-fold``) holds out other recordings."""
    recs = recordings.recordings
    per_class = {c: sum(c in rec.labels for rec in recs) for c in recordings.class_names}
    want = {c: max(1, round(n / every)) if n >= 2 else 0 for c, n in per_class.items()}
    held = {c: 0 for c in per_class}
    left = dict(per_class)
    order = [rec for k, rec in enumerate(recs) if k % every == fold] + \
            [rec for k, rec in enumerate(recs) if k % every != fold]
    val: set[str] = set()
    for rec in order:
        helps = any(held[c] < want[c] for c in rec.labels)
        if helps and all(left[c] > 1 for c in rec.labels):
            val.add(rec.rel)
            for c in rec.labels:
                held[c] += 1
                left[c] -= 1
    if not val:
        raise InputError(recordings.root, f"cannot hold out a whole recording for validation ({len(recs)} "
                                          "recordings; a class needs at least 2): record more clips, or set "
                                          "data.split = 'folder' with data.val_dir")
    return [r.rel for r in recs if r.rel not in val], [r.rel for r in recs if r.rel in val]
