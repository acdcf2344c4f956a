"""Recovering a recording whose process was killed: the ``<stem>.part.aedat4`` it left behind.

A killed recorder leaves the .part holding every event but the last ~``FLUSH_S`` (packets go
to the file as they are made), possibly cut inside a packet; ``guard`` makes such a file
readable up to the cut. Recovery copies the readable events into a finished file of a new
name (written atomically by ``AedatWriter``) and the predictions that the surviving events
cover into its ``.predictions.jsonl`` (predictions reach the disk line by line, sooner than
events, so the later ones describe events that were lost). Only then are the leftovers removed:
a crash during recovery leaves them in place for the next try.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from r2etl_core.errors import InputError
from r2etl_core.io.dv import AedatReader, AedatWriter
from r2etl_core.io.dv.writers import part_path_for
from r2etl_core.io.files import atomic_write


def predictions_path_for(path: str | Path) -> Path:
    """``<stem>.predictions.jsonl`` beside the recording ``<stem>.aedat4``."""
    path = Path(path)
    return path.with_name(path.name[: -len(path.suffix)] + ".predictions.jsonl")


@dataclass(frozen=True)
class Recovered:
    """What ``recover_interrupted`` saved; ``message`` is the line to show the user."""

    path: Path | None  # None when the interrupted recording held no events
    events: int
    predictions: int
    predictions_dropped: int
    message: str


def recovered_name(path: Path) -> Path:
    """``<stem>.recovered.aedat4`` (or ``-2``, ``-3`` ...): neither it nor its .part exists."""
    stem, k = path.name[: -len(".aedat4")], 1
    while True:
        candidate = path.with_name(f"{stem}.recovered{'' if k == 1 else f'-{k}'}.aedat4")
        if not candidate.exists() and not part_path_for(candidate).exists():
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


def recover_interrupted(path: str | Path) -> Recovered | None:
    """Save what a killed recording to ``path`` left (None when it left nothing)."""
    path = Path(path)
    part = part_path_for(path)
    if not part.exists():
        return None
    target = recovered_name(path)
    events, last_t = _copy_events(part, target)
    predictions = predictions_path_for(path)
    kept = dropped = 0
    if predictions.exists():
        kept, dropped = _copy_predictions(predictions, predictions_path_for(target), last_t)
        os.unlink(predictions)
    os.unlink(part)
    if not events:
        return Recovered(None, 0, 0, dropped, f"an interrupted recording ({part.name}) held no events: removed")
    note = f", {dropped} predictions past its last event dropped" if dropped else ""
    return Recovered(target, events, kept, dropped,
                     f"an interrupted recording holds {events} events: recovered as {target.name}{note}")


def interrupted_in(folder: str | Path) -> list[Path]:
    """The recordings a killed process left unfinished in ``folder`` (their final names)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p.with_name(p.name[: -len(".part.aedat4")] + ".aedat4") for p in folder.glob("*.part.aedat4"))


def recover_folder(folder: str | Path) -> list[Recovered]:
    """Recover every interrupted recording in ``folder``; one that cannot be read stays as it
    was (its ``.part`` file is kept) and is reported in its ``message``."""
    out = []
    for path in interrupted_in(folder):
        try:
            found = recover_interrupted(path)
        except (InputError, OSError) as exc:
            out.append(Recovered(None, 0, 0, 0, f"{part_path_for(path).name}: could not be recovered ({exc})"))
            continue
        if found is not None:
            out.append(found)
    return out
