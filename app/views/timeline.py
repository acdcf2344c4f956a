"""A whole recording at a glance, under the seek bar: the model's answer for every slice of
the open recording (and the labels above it), coloured like the prediction strip.

``TimelineView`` draws a ``r2etl_core.stream.timeline.Timeline``; a click jumps there.
``TimelineJob`` computes it in the background with the current model and stream settings,
faster than real time, and starts again (cancelling the old one) when either changes.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.tasks import BackgroundTasks
from r2etl_core.stream.timeline import Timeline, compute_timeline

ROW_PX = 14
SETTLE_S = 0.6  # recompute once the recording, model and settings have been still this long


class TimelineView(QWidget):
    seekRequested = Signal(int)  # us after the recording start

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.timeline: Timeline | None = None
        self.plot = pg.PlotWidget()
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.plot.hideAxis("bottom")
        self.plot.getAxis("left").setWidth(48)
        self.plot.getPlotItem().setContentsMargins(0, 0, 0, 0)
        self.image = pg.ImageItem()
        self.plot.addItem(self.image)
        self.cursor = pg.InfiniteLine(0, angle=90, pen=pg.mkPen("#ffffff", width=1))
        self.plot.addItem(self.cursor)
        self.plot.scene().sigMouseClicked.connect(self._clicked)
        self.plot.setToolTip("The model's answer for the whole recording (labels above, when there are "
                             "any): click to jump there")
        self.note = QLabel("")
        self.note.setStyleSheet("color:#8a93a3")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.plot)
        layout.addWidget(self.note)
        self.clear("")

    def clear(self, note: str) -> None:
        self.timeline = None
        self.image.clear()
        self.cursor.hide()
        self.note.setText(note)
        self.setVisible(bool(note))

    def show_progress(self, fraction: float) -> None:
        if self.timeline is None:
            self.note.setText(f"whole-recording view: classifying ... {fraction:.0%}")

    def set_timeline(self, timeline: Timeline) -> None:
        self.timeline = timeline
        rows = 2 if timeline.segments else 1
        self.plot.setFixedHeight(ROW_PX * rows + 4)
        names = (["labels"] if rows == 2 else []) + ["model"]
        self.plot.getAxis("left").setTicks([[(r + 0.5, name) for r, name in enumerate(names)]])
        self.setVisible(True)
        self._draw()
        self.note.setText("")
        self.note.setVisible(False)
        self.cursor.show()

    def set_position(self, position_us: int | None) -> None:
        if self.timeline is not None and position_us is not None:
            self.cursor.setValue(position_us / 1e6)

    def columns(self) -> np.ndarray:
        """``[rows, width, 3]`` what is drawn now (tests compare it with the predictions)."""
        return self.timeline.image(self._width()) if self.timeline is not None else np.zeros((0, 0, 3), np.uint8)

    def _width(self) -> int:
        return max(64, self.plot.width())

    def _draw(self) -> None:
        tl = self.timeline
        img = tl.image(self._width())
        rows = img.shape[0]
        self.image.setImage(img, autoLevels=False, levels=(0, 255))
        seconds = max(tl.duration_us / 1e6, 1e-3)
        self.image.setRect(QRectF(0, 0, seconds, rows))
        self.plot.setXRange(0, seconds, padding=0)
        self.plot.setYRange(0, rows, padding=0)
        self.plot.getPlotItem().invertY(True)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt)
        super().resizeEvent(event)
        if self.timeline is not None:
            self._draw()

    def _clicked(self, event) -> None:
        if self.timeline is None or event.button() != Qt.MouseButton.LeftButton:
            return
        x = self.plot.getPlotItem().vb.mapSceneToView(event.scenePos()).x()
        self.seekRequested.emit(int(min(max(x, 0.0) * 1e6, self.timeline.duration_us)))


class TimelineJob(QObject):
    """Computes the timeline of the open recording off the GUI thread; a newer request
    cancels the older one."""

    progressed = Signal(float)

    def __init__(self, view: TimelineView, parent: QObject | None = None):
        super().__init__(parent)
        self.view = view
        self.tasks = BackgroundTasks(self)
        self.progressed.connect(view.show_progress)
        self._cancel: threading.Event | None = None
        self._wanted: tuple | None = None
        self._seen: tuple | None = None
        self._since = 0.0

    def follow(self, session) -> None:
        """On a display tick: the session's open recording (files only), model and stream
        settings. A new recording or model is computed at once; a change of settings once it has
        been still for ``SETTLE_S`` (a dragged ROI, a spin box being stepped)."""
        info = session.source.info if session.source is not None else None
        replay = session.playback is not None and info is not None and bool(info.duration_us)
        wanted = (session.spec if replay else None, session.model_path, session.settings)
        now = time.monotonic()
        if wanted[:2] != (self._wanted or (None, None))[:2] and wanted[0] is not None:
            self._seen = wanted  # another recording or model: at once
            self.request(*wanted)
        elif wanted != self._seen:
            self._seen, self._since = wanted, now
        elif now - self._since >= SETTLE_S:  # settings: once they have been still a moment
            self.request(*wanted)
        self.view.set_position(session.position_us())

    def request(self, spec: str | None, model_path, settings) -> None:
        """The timeline of ``spec`` (None: no recording open) with this model and settings."""
        wanted = (spec, str(model_path) if model_path else None, settings)
        if wanted == self._wanted:
            return
        self.cancel()
        self._wanted = wanted
        if spec is None or model_path is None:
            self.view.clear("")
            return
        cancel = self._cancel = threading.Event()
        shown = [0.0]

        def progress(fraction: float) -> None:
            if fraction - shown[0] >= 0.05:
                shown[0] = fraction
                self.progressed.emit(fraction)

        self.view.clear("whole-recording view: classifying ...")
        self.tasks.run(lambda: compute_timeline(spec, model_path, settings, cancel, progress), self._done,
                       lambda msg: self.view.clear(f"whole-recording view failed: {msg}"),
                       name="r2etl-timeline", key="timeline")

    def _done(self, timeline: Timeline | None) -> None:
        if timeline is not None:
            self.view.set_timeline(timeline)

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
        self._wanted = None
