"""Labelling while recording and while replaying: what a key press on the label bar means.

Two targets, one ``LabelEditor`` (r2etl_core.io.label_editing) at a time:

- Recording (Record...): marks go to ``<name>.labels.csv`` beside the new recording, saved
  at every mark, every ``SAVE_EVERY_MS`` (the open segment's growing end) and when it stops:
  a kill loses no mark and at most ~0.5 s of the open segment, like the events (recovery
  carries the sidecar over with them).
- Replaying an .aedat4 file, once "edit labels" is ticked (so a stray digit never changes a
  file's ground truth): marks edit that file's sidecar, saved after every change.

When is "now"? The end of the newest slice the window has drawn (``Prediction.t_end_us``).
The user reacts to the picture on screen, and the picture is exactly the events up to that
time; the recorder's last written event is ahead of the picture by a slice, the model's
latency and up to a display tick, so marks made with it would land after what was seen.
Recording labels keep stream time (the recording holds the stream's timestamps); replay maps
it back to recording time (``recording_time_of``), as the truth row does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from PySide6.QtCore import QObject, QTimer, Signal

from app.label_bar import LabelBar
from app.session import Session
from r2etl_core.errors import InputError
from r2etl_core.io.eventfiles import is_event_file
from r2etl_core.io.label_editing import LabelEditor, sidecar_path, write_sidecar
from r2etl_core.io.labels import read_labels
from r2etl_core.protocols import Playback
from r2etl_core.types import EngineOutput, Prediction

SAVE_EVERY_MS = 500
OFF, RECORD, REPLAY = "off", "record", "replay"
HINT_OFF = "Record... a camera or stream, or open an event recording, to label it"


def recording_time_of(pred: Prediction, playback: Playback | None, jumped: bool = False) -> int:
    """A slice's end in recording time: shifted by the loop offset of the slice's middle (as
    ``RunningScore.to_recording_time``), so a slice running past the last event stays in its pass.
    The first slice after a seek (``jumped``) starts on the slice grid before the first event
    from the new place: its end, not its middle, is in the new pass."""
    if playback is None:
        return pred.t_end_us
    at = pred.t_end_us - 1 if jumped else (pred.t_start_us + pred.t_end_us) // 2
    return pred.t_end_us + playback.recording_time_us(at) - at


def editable_file(session: Session) -> Path | None:
    """The event file being replayed (any format: the sidecar is a file of its own), whose
    sidecar may be edited (None for other inputs)."""
    info = session.source.info if session.source is not None else None
    if info is None or info.kind != "file" or session.playback is None or not session.spec:
        return None
    path = Path(session.spec)
    return path if is_event_file(path) else None


class Labeller(QObject):
    segmentsChanged = Signal(object)  # what the views show: tuple of segments, or None when done
    message = Signal(str)  # for the status bar

    def __init__(self, session: Session, bar: LabelBar, parent: QObject | None = None):
        super().__init__(parent)
        self.session, self.bar = session, bar
        self.mode = OFF
        self.editor: LabelEditor | None = None
        self.path: Path | None = None  # the sidecar being written
        self.now_us: int | None = None  # end of the newest drawn slice, in the labelled time line
        self._saved: tuple | None = None  # what the sidecar holds now (None: not written yet)
        self._must_write = False  # a recording over a stale sidecar replaces it even without labels
        self._error = ""  # why the last save failed
        self.save_timer = QTimer(self)
        self.save_timer.setInterval(SAVE_EVERY_MS)
        self.save_timer.timeout.connect(self.save)
        bar.labelChosen.connect(self.mark)
        bar.undoRequested.connect(self.undo)
        bar.editToggled.connect(self._edit_toggled)
        self.input_changed()

    # -- targets ------------------------------------------------------------------------------
    def input_changed(self) -> None:
        """A new input plays: finish what was edited; offer editing a replayed file's labels."""
        if self.mode == REPLAY:
            self.finish()
        if self.mode == RECORD:
            return
        self.now_us = None
        self.bar.set_extra_classes(())
        target = editable_file(self.session)
        self.bar.show_edit_option(target is not None)
        self._show_idle()

    def recording_changed(self, recording: str) -> None:
        if recording:
            if self.mode == REPLAY:
                self.finish()
            self.path, self.now_us = sidecar_path(recording), None  # stream time from here on
            self._start(RECORD, LabelEditor(), must_write=self.path.exists())
            self.bar.show_edit_option(False)
            self.save_timer.start()
        elif self.mode == RECORD:
            self.finish()
            self.input_changed()

    def _edit_toggled(self, on: bool) -> None:
        target = editable_file(self.session)
        if not on or target is None:
            self.finish()
            self.bar.show_edit_option(target is not None)
            self._show_idle()
            return
        path = sidecar_path(target)
        try:
            segments = read_labels(path) if path.exists() else []
            editor = LabelEditor(segments)
        except (InputError, ValueError) as exc:
            self.bar.show_edit_option(True, False)
            self.bar.show_status(f"cannot edit: {exc}", error=True)
            return
        self.path = path
        self._start(REPLAY, editor)
        self._saved = editor.segments if path.exists() else None
        self.bar.set_extra_classes(sorted({s.label for s in editor.segments}))

    def _start(self, mode: str, editor: LabelEditor, must_write: bool = False) -> None:
        self.mode, self.editor = mode, editor
        self._saved, self._must_write, self._error = None, must_write, ""
        self.bar.set_active(True)
        self._changed(save=False)

    def finish(self) -> None:
        """End the open segment where the picture is, save, and stop labelling."""
        if self.editor is None:
            self.mode = OFF
            return
        if self.editor.open is not None and self.now_us is not None:
            self.editor.mark(None, self.now_us)
        target = editable_file(self.session)
        if self.mode == REPLAY and target is not None and sidecar_path(target) == self.path:
            self.session.segments = self.editor.segments  # still this file: it has these labels now
        self.save()
        self.save_timer.stop()
        self.mode, self.editor = OFF, None
        self.bar.set_active(False)
        self.segmentsChanged.emit(None)

    # -- the time line ------------------------------------------------------------------------
    def note_outputs(self, outputs: Sequence[EngineOutput]) -> None:
        """Follow the drawn slices; in replay, a jump back (loop, seek) ends the open segment
        where the picture was, so it never spans the jump."""
        playback = self.session.playback if self.mode != RECORD else None
        for out in outputs:
            t = self._clamped(recording_time_of(out.prediction, playback, out.jumped))
            if self.mode == REPLAY and self.now_us is not None and t < self.now_us and self.editor.open:
                self.editor.mark(None, self.now_us)
                self._changed()
                self.message.emit("playback jumped back: the open label ends where it was")
            self.now_us = t
        if outputs and self.editor is not None and self.editor.open is not None:
            self._show_current()

    def _clamped(self, t_us: int) -> int:
        """Inside the replayed recording (a last slice may end after its last event)."""
        info = self.session.source.info if self.session.source is not None else None
        if self.mode == RECORD or info is None or info.t_start_us is None or not info.duration_us:
            return t_us
        return min(max(t_us, info.t_start_us), info.t_start_us + info.duration_us + 1)

    def seeked(self) -> None:
        """A seek: the open segment ends where the picture is, before the jump."""
        if self.editor is not None and self.editor.open is not None and self.now_us is not None:
            self.editor.mark(None, self.now_us)
            self._changed()

    # -- marks --------------------------------------------------------------------------------
    def mark(self, label: str | None) -> None:
        if self.editor is None:
            self.message.emit("tick 'edit labels' to change this recording's labels"
                              if editable_file(self.session) else HINT_OFF)
            return
        if self.now_us is None:
            self.message.emit("no events shown yet: label once the picture moves")
            return
        if self.editor.mark(label, self.now_us):
            self._changed()

    def undo(self) -> None:
        if self.editor is not None and self.editor.undo():
            self._changed()
            self.message.emit("undid the last mark")

    def _changed(self, save: bool = True) -> None:
        """Show the edit and save it now (a recording also saves the open segment's end on
        its timer)."""
        if self.mode == REPLAY:
            self.session.segments = self.editor.segments
        if save:
            self.save()
        self._show_current()
        self._show_saved()
        self.segmentsChanged.emit(self.editor.view_segments())

    def save(self) -> None:
        """Write the sidecar if it would change (atomically); a failure is shown, not raised."""
        if self.editor is None or self.path is None:
            return
        segments = self.editor.segments_until(self._save_until()) if self.now_us is not None \
            else self.editor.segments
        if segments == self._saved or (self._saved is None and not segments and not self._must_write):
            return
        try:
            write_sidecar(self.path, segments)
        except InputError as exc:
            self._error = exc.problem
            self.message.emit(f"labels not saved: {exc}")
        else:
            self._saved, self._error = segments, ""
        self._show_saved()

    def _save_until(self) -> int:
        """Where the open segment ends in the saved file: now, or 1 us after its start when it
        was just marked (an empty segment is no segment, and a kill now would lose the mark)."""
        seg = self.editor.open
        return self.now_us + 1 if seg is not None and seg.start_us >= self.now_us else self.now_us

    # -- display ------------------------------------------------------------------------------
    def _show_current(self) -> None:
        seg = self.editor.open if self.editor is not None else None
        held = (self.now_us - seg.start_us) / 1e6 if seg is not None and self.now_us is not None else None
        self.bar.show_current(seg.label if seg is not None else None, held)

    def _show_saved(self) -> None:
        if self._error:
            self.bar.show_status(f"NOT SAVED: {self._error}", error=True)
            return
        count = len(self.editor.segments)
        open_ = " + 1 open" if self.editor.open is not None else ""
        when = (f"saved at every mark and every {SAVE_EVERY_MS / 1000:g} s" if self.mode == RECORD
                else "saved after every mark")
        self.bar.show_status(f"\u2192 {self.path.name}: {count} segment{'s' if count != 1 else ''}{open_}, {when}")

    def _show_idle(self) -> None:
        self.bar.set_active(False)
        self.bar.show_current(None)
        target = editable_file(self.session)
        if target is None:
            self.bar.show_status(HINT_OFF)
            return
        path = sidecar_path(target)
        self.bar.show_status(f"{path.name}" + ("" if path.exists() else " (none yet)"))
