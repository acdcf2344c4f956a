"""Camera frames under the events: a DAVIS recording's own frames, read off the GUI thread
when the input changes, or a live DAVIS camera's newest frame a few times a second."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject

from app.session import Session
from app.tasks import BackgroundTasks
from app.views.event_view import EventView
from r2etl_core.io.aps_frames import CameraFrames, read_camera_frames


class CameraFramesFeed:
    """Gives ``event_view`` the frames of ``session``'s input; ``status`` shows a one-line note
    when frames cannot be shown (or only some)."""

    def __init__(self, parent: QObject, session: Session, event_view: EventView, status: Callable[[str], None]):
        self.session, self.event_view, self.status = session, event_view, status
        self.tasks = BackgroundTasks(parent)  # reads a DAVIS file's frames off the GUI thread
        self._spec: str | None = None  # the file whose frames are shown or being read
        self._live_t: int | None = None  # newest live camera frame shown

    def show_live(self, outputs) -> None:
        """A live DAVIS camera's newest frame under its events (a few times a second)."""
        frames = self.session.live_camera_frames()
        if frames is None:
            return
        newest = int(frames.t_us[-1])
        if newest != self._live_t:
            self._live_t = newest
            self.event_view.set_camera_frames(frames, "live camera frames")
        t_us = outputs[-1].prediction.t_end_us if outputs else newest
        self.event_view.show_camera_frame(t_us)

    def input_changed(self) -> None:
        """A DAVIS recording's own frames, read in the background (live cameras: events only)."""
        info, spec = (self.session.source.info if self.session.source else None), self.session.spec
        path = Path(spec) if spec and info is not None and info.kind == "file" else None
        if path is None or path.suffix.lower() != ".aedat4" or not path.is_file():
            self._live_t = None  # a live camera shows its frames as they come
            self._spec = None
            self.event_view.set_camera_frames(None)
            return
        if spec == self._spec:  # the same file again (another model): frames kept
            return
        self._spec = spec
        self.event_view.camera_frames_loading()
        self.tasks.run(lambda: read_camera_frames(path), lambda frames: self._read(spec, frames),
                       lambda msg: self._read(spec, None, msg), name="r2etl-frames", key="frames")

    def _read(self, spec: str, frames: CameraFrames | None, problem: str = "") -> None:
        if spec != self._spec:
            return
        if problem:
            self.status(f"camera frames not shown: {problem}")
        elif frames is not None and not frames.complete:
            self.status(f"camera frames: only the first {len(frames)} are shown (a damaged "
                        "frame after them, or more frames than fit in memory)")
        self.event_view.set_camera_frames(frames)
