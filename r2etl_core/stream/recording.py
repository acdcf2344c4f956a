"""A live session's recording: raw events (an engine tap) and predictions (a sink) to one file.

Started on a running input, stopped when the input or the model changes, the input ends or is
lost, writing fails, or the session closes; each time the front end is told what was saved,
or, when the file could not be finished, how to recover it.
"""

from __future__ import annotations

from pathlib import Path

from r2etl_core.errors import user_message
from r2etl_core.stream.engine import StreamEngine


def start_recording(engine: StreamEngine, info, path: str | Path, factory, listener):
    """A recorder writing ``engine``'s input to ``path`` (``.aedat4`` added), or None after
    telling ``listener`` why not. ``factory(path, width, height, camera)`` makes it."""
    path = Path(path)
    if path.suffix.lower() != ".aedat4":  # a save dialog may drop the extension
        path = path.with_suffix(".aedat4")
    try:
        tap = factory(path, info.width, info.height, info.camera or info.name)
    except Exception as exc:
        listener.error(f"cannot record to {path}: {user_message(exc)}", True)
        return None
    engine.add_event_tap(tap.write_events)
    engine.add_sink(tap)
    listener.recording_changed(str(tap.path))
    recovered = getattr(tap, "recovered", None)  # what a killed recording to this name left
    note = f" ({recovered.message})" if recovered is not None else ""
    listener.status(f"recording to {tap.path}{note}")
    return tap


def stop_recording(engine: StreamEngine | None, tap, why: str, listener) -> None:
    """Detach ``tap`` from ``engine`` and finish its file."""
    if engine is not None:
        engine.remove_event_tap(tap.write_events)
        engine.remove_sink(tap)
    tap.close()
    listener.recording_changed("")
    note = f" ({why})" if why else ""
    if not getattr(tap, "finished", True):  # e.g. the disk filled up while finishing
        listener.error(f"recording stopped: {tap.failure}; {tap.path.name} is not finished: "
                       "record to the same name again to recover what was written", True)
        return
    listener.status(f"saved {tap.path} and {tap.predictions_path.name}{note}")
