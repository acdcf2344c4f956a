"""Recovering a recording whose process was killed: the ``<stem>.part.aedat4`` it left behind.

A killed recorder leaves the .part holding every event but the last ~``FLUSH_S`` (packets go
to the file as they are made), possibly cut inside a packet; ``guard`` makes such a file
readable up to the cut. Recovery copies the readable events into a finished file of a new
name (written atomically by ``AedatWriter``) and the predictions that the surviving events
cover into its ``.predictions.jsonl`` (predictions reach the disk line by line, sooner than
events, so the later ones describe events that were lost) and its labels sidecar, clipped to
the saved events, into ``<new stem>.labels.csv`` (a sidecar that cannot be read is moved over
as it is: it is the user's work). Only then are the leftovers removed: a crash during recovery
leaves them in place for the next try.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from r2etl_core.errors import InputError
from r2etl_core.io.dv import AedatReader, AedatWriter
from r2etl_core.io.dv.writers import lock_in_use, part_path_for
from r2etl_core.io.files import atomic_write
from r2etl_core.io.labels import SUFFIX, LabelSegment, read_labels, write_labels


def predictions_path_for(path: str | Path) -> Path:
    """``<stem>.predictions.jsonl`` beside the recording ``<stem>.aedat4``."""
    path = Path(path)
    return path.with_name(path.name[: -len(path.suffix)] + ".predictions.jsonl")


def labels_path_of(path: str | Path) -> Path:
    """``<stem>.labels.csv`` beside the recording ``<stem>.aedat4`` (existing or not)."""
    path = Path(path)
    return path.with_name(path.name[: -len(path.suffix)] + SUFFIX)


@dataclass(frozen=True)
class Recovered:
    """What ``recover_interrupted`` saved; ``message`` is the line to show the user."""

    path: Path | None  # None when the interrupted recording held no events
    events: int
    predictions: int
    predictions_dropped: int
    message: str
    labels: int = 0  # label segments carried over (-1: an unreadable sidecar moved over as it was)


def recovered_name(path: Path) -> Path:
    """``<stem>.recovered.aedat4`` (or ``-2``, ``-3`` ...): neither it nor its .part exists."""
    stem, k = path.name[: -len(".aedat4")], 1
    while True:
        candidate = path.with_name(f"{stem}.recovered{'' if k == 1 else f'-{k}'}.aedat4")
        if not any(p.exists() for p in (candidate, part_path_for(candidate), labels_path_of(candidate))):
            return candidate
        k += 1


def _copy_events(part: Path, target: Path) -> tuple[int, int | None]:
    """Copy the readable events of ``part`` into ``target``: (count, time of the last one)."""
    try:
        reader = AedatReader(part)
    except InputError as exc:
        if "holds no events" in exc.problem:
            return 0, None
        raise InputError(part, f"an interrupted recording that cannot be recovered ({exc.problem}): "
                               "rename or delete it first") from None
    info = reader.info
    writer = AedatWriter(target, info.width, info.height, info.camera)
    try:
        for batch in reader.batches():
            writer.write(batch)
    except InputError:
        pass  # the damaged end of a killed recording: everything before it was copied
    finally:
        reader.close()
    writer.close()
    return writer.events_written, writer.last_t_us


def _covered(line: str, last_t: int | None) -> bool:
    """Is ``line`` a whole prediction of a slice that ends by the last saved event?"""
    if last_t is None or not line.endswith("\n"):
        return False  # no events saved, or the line the kill cut short
    try:
        return int(json.loads(line)["t_end_us"]) <= last_t + 1
    except (ValueError, KeyError, TypeError):
        return False


def _copy_predictions(source: Path, target: Path, last_t: int | None) -> tuple[int, int]:
    """Copy the lines of ``source`` that ``_covered`` keeps: (kept, dropped)."""
    kept: list[str] = []
    dropped = 0
    with open(source, encoding="utf-8", errors="replace") as f:
        for line in f:
            if _covered(line, last_t):
                kept.append(line)
            else:
                dropped += 1
    if kept:
        with atomic_write(target) as tmp:
            tmp.write_text("".join(kept), encoding="utf-8")
    return len(kept), dropped


def being_written(part: Path) -> bool:
    """Does a live writer hold ``part`` (its ``AedatWriter`` lock)?"""
    try:
        fd = os.open(part, os.O_RDONLY)
    except OSError:
        return False
    try:
        return not lock_in_use(fd)
    finally:
        os.close(fd)  # releases our probe lock at once


def _copy_labels(source: Path, target: Path, last_t: int | None) -> int:
    """The segments of ``source`` that start by the last saved event, ended there at the
    latest, into ``target``: their count (-1: unreadable, moved over unchanged)."""
    try:
        segments = read_labels(source)
    except InputError:
        os.replace(source, target)
        return -1
    end = None if last_t is None else last_t + 1
    kept = [LabelSegment(s.start_us, min(s.end_us, end), s.label) for s in segments
            if end is not None and s.start_us < end]
    if kept:
        with atomic_write(target) as tmp:
            write_labels(tmp, kept)
    elif segments:  # labels made before the first event reached the disk: keep them all
        os.replace(source, target)
        return len(segments)
    return len(kept)


def recover_interrupted(path: str | Path) -> Recovered | None:
    """Save what a killed recording to ``path`` left (None when it left nothing)."""
    path = Path(path)
    part = part_path_for(path)
    if not part.exists():
        return None
    if being_written(part):
        raise InputError(part, "is being recorded right now (by this or another program): not touched")
    target = recovered_name(path)
    events, last_t = _copy_events(part, target)
    predictions, labels = predictions_path_for(path), labels_path_of(path)
    kept = dropped = segments = 0
    if predictions.exists():
        kept, dropped = _copy_predictions(predictions, predictions_path_for(target), last_t)
        os.unlink(predictions)
    if labels.is_file():
        segments = _copy_labels(labels, labels_path_of(target), last_t)
        if labels.exists():
            os.unlink(labels)
    os.unlink(part)
    kept_labels = (f"; its labels kept as {labels_path_of(target).name}" if segments else "")
    if not events:
        return Recovered(None, 0, 0, dropped, f"an interrupted recording ({part.name}) held no events: "
                                              f"removed{kept_labels}", segments)
    note = f", {dropped} predictions past its last event dropped" if dropped else ""
    labelled = f", {segments} labels" if segments > 0 else ", its labels (unreadable, as they were)" \
        if segments < 0 else ""
    return Recovered(target, events, kept, dropped, f"an interrupted recording holds {events} events"
                     f"{labelled}: recovered as {target.name}{note}", segments)


def interrupted_in(folder: str | Path) -> list[Path]:
    """The recordings a killed process left unfinished in ``folder`` (their final names)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p.with_name(p.name[: -len(".part.aedat4")] + ".aedat4") for p in folder.glob("*.part.aedat4"))


def recover_folder(folder: str | Path) -> list[Recovered]:
    """Recover every interrupted recording in ``folder``; one that cannot be read stays as it
    was (its ``.part`` file is kept) and is reported in its ``message``; one still being
    recorded (its writer's lock is held) is left alone without a word."""
    out = []
    for path in interrupted_in(folder):
        if being_written(part_path_for(path)):
            continue
        try:
            found = recover_interrupted(path)
        except (InputError, OSError) as exc:
            out.append(Recovered(None, 0, 0, 0, f"{part_path_for(path).name}: could not be recovered ({exc})"))
            continue
        if found is not None:
            out.append(found)
    return out
