"""The event view: the whole sensor (ON cyan, OFF magenta), a square ROI that chooses what the
model sees, an inset of the model's input frame, and (a DAVIS recording) the camera's own
grey-level frame under the events, the one nearest in time to the newest slice.

Image items are created once with fixed levels; new frames only ``setImage``. Every slice
that arrived since the last display tick is blended in (older ones fade), so no events are
hidden by the display rate even when it is slower than the slice rate.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.views.palette import polarity_index, polarity_lut, polarity_overlay_lut
from r2etl_core.io.aps_frames import CameraFrames
from r2etl_core.types import EngineOutput, FrameSpec

FADE = 0.55  # weight of the previous display frame after FADE_US of event time
FADE_US = 30_000  # so short slices do not make the view flicker and long ones do not smear


class EventView(QWidget):
    roiChanged = Signal(object)  # FrameSpec in sensor pixels, or None for "centred default"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._size = (0, 0)
        self._out_size = 34
        self._accum: np.ndarray | None = None
        self.frames_shown = 0

        self.canvas = pg.GraphicsLayoutWidget()
        self.view = self.canvas.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.view.setMenuEnabled(False)
        lut = polarity_lut()
        self.image = pg.ImageItem(levels=(0, 255), lut=lut)
        self.view.addItem(self.image)
        self._lut, self._overlay_lut = lut, polarity_overlay_lut()
        self.camera_image = pg.ImageItem(levels=(0, 255))  # grey: no LUT
        self.camera_image.setZValue(-1)
        self.camera_image.setVisible(False)
        self.view.addItem(self.camera_image)
        self.camera_frames: CameraFrames | None = None
        self.camera_index: int | None = None  # the frame on screen
        self.roi = pg.ROI((0, 0), (34, 34), pen=pg.mkPen("#ffd24a", width=2),
                          hoverPen=pg.mkPen("#fff3b0", width=3), handlePen=pg.mkPen("#ffd24a"),
                          snapSize=1.0, translateSnap=True, scaleSnap=True, removable=False)
        self.roi.addScaleHandle((1, 1), (0, 0), lockAspect=True)
        self.roi.addScaleHandle((0, 0), (1, 1), lockAspect=True)
        self.roi.sigRegionChangeFinished.connect(self._roi_moved)
        self.view.addItem(self.roi)
        self.roi_text = pg.TextItem(anchor=(0, 0), color="#ffd24a", fill=pg.mkBrush(0, 0, 0, 170))
        self.view.addItem(self.roi_text)

        self.inset_canvas = pg.GraphicsLayoutWidget()
        self.inset_canvas.setFixedSize(170, 170)
        self.inset_view = self.inset_canvas.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.inset_view.setMenuEnabled(False)
        self.inset = pg.ImageItem(levels=(0, 255), lut=lut)
        self.inset_view.addItem(self.inset)
        self.inset_label = QLabel("model input")
        self.centre_button = QPushButton("Centre ROI")
        self.centre_button.setToolTip("Back to the default: the largest centred square")
        self.centre_button.clicked.connect(lambda: self.roiChanged.emit(None))
        self.sensor_label = QLabel("no input")
        self.sensor_label.setWordWrap(True)
        self.camera_toggle = QCheckBox("show camera frames")
        self.camera_toggle.setToolTip("The camera's own grey-level (APS) frames under the events: "
                                      "the one nearest in time to the newest slice")
        self.camera_toggle.setChecked(True)  # shown by default when the input has frames, as DV does
        self.camera_toggle.toggled.connect(self._camera_toggled)
        self.camera_note = QLabel("")
        self.camera_note.setWordWrap(True)
        self.camera_note.setStyleSheet("color: #8a93a3")

        side = QVBoxLayout()
        title = QLabel("<b>What the model sees</b>")
        side.addWidget(title)
        side.addWidget(self.inset_canvas)
        side.addWidget(self.inset_label)
        side.addWidget(self.centre_button)
        side.addWidget(self.camera_toggle)
        side.addWidget(self.camera_note)
        side.addSpacing(12)
        side.addWidget(self.sensor_label)
        hint = QLabel("Drag the yellow square to move what the model sees; drag a corner to resize.")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: #8a93a3")
        side.addWidget(hint)
        side.addStretch(1)
        side_widget = QWidget()
        side_widget.setLayout(side)
        side_widget.setFixedWidth(190)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(side_widget)
        self.set_camera_frames(None)

    # -- inputs ------------------------------------------------------------------------------
    def set_sensor(self, width: int, height: int, label: str = "") -> None:
        self._size = (width, height)
        self._accum = np.zeros((2, height, width), np.float32)
        self.image.setImage(polarity_index(self._accum), levels=(0, 255))
        self.image.setRect(QRectF(0, 0, width, height))
        self.roi.maxBounds = QRectF(0, 0, width, height)
        self.view.setRange(QRectF(0, 0, width, height), padding=0.02)
        if self.camera_frames is not None:
            self.camera_image.setRect(QRectF(0, 0, width, height))
        self.sensor_label.setText(label or f"sensor {width} x {height}")

    def set_model_input(self, out_size: int) -> None:
        self._out_size = out_size
        self.inset.setImage(np.zeros((out_size, out_size), np.uint8), levels=(0, 255))
        self.inset_view.setRange(QRectF(0, 0, out_size, out_size), padding=0)

    def show_outputs(self, outputs: list[EngineOutput]) -> None:
        if not outputs:
            return
        for out in outputs:
            frame = out.sensor_frame
            if self._accum is None or self._accum.shape != frame.shape:
                self.set_sensor(frame.shape[2], frame.shape[1])
            span_us = max(out.prediction.t_end_us - out.prediction.t_start_us, 1)
            self._accum *= FADE ** (span_us / FADE_US)
            self._accum += frame
        self.image.setImage(polarity_index(self._accum), autoLevels=False)
        model_frame = outputs[-1].model_frame
        self.inset.setImage(polarity_index(model_frame, full_at=1.0), autoLevels=False)
        self.inset_label.setText(f"model input {model_frame.shape[2]} x {model_frame.shape[1]}")
        self.frames_shown += 1

    # -- the camera's own frames -------------------------------------------------------------
    def camera_frames_loading(self) -> None:
        self.set_camera_frames(None)
        self.camera_toggle.setVisible(True)
        self.camera_note.setText("reading camera frames ...")

    def set_camera_frames(self, frames: CameraFrames | None, note: str = "") -> None:
        """Frames of the input (None: it has none, and the toggle goes away)."""
        self.camera_frames, self.camera_index = (frames if frames is not None and len(frames) else None), None
        have = self.camera_frames is not None
        self.camera_toggle.setVisible(have)
        self.camera_toggle.setEnabled(have)
        self.camera_note.setText(note)
        if have:
            self.camera_image.setImage(np.zeros_like(self.camera_frames.images[0]), levels=(0, 255))
            self.camera_image.setRect(QRectF(0, 0, *(self._size if self._size != (0, 0) else
                                                     (self.camera_frames.width, self.camera_frames.height))))
        self._camera_toggled(self.camera_toggle.isChecked())

    def show_camera_frame(self, t_us: int) -> None:
        """The frame nearest ``t_us`` (recording time), if frames are shown."""
        frames = self.camera_frames
        if frames is None or not self.camera_toggle.isChecked():
            return
        i = frames.nearest(t_us)
        if i is not None and i != self.camera_index:
            self.camera_index = i
            self.camera_image.setImage(frames.images[i], autoLevels=False)
        if i is not None:
            dt_ms = (int(frames.t_us[i]) - t_us) / 1000
            when = f"{abs(dt_ms):.0f} ms {'before' if dt_ms < 0 else 'after'} the newest events"
            self.camera_note.setText(f"frame {i + 1} of {len(frames)}{'' if frames.complete else '+'}, {when}")

    def _camera_toggled(self, on: bool) -> None:
        shown = on and self.camera_frames is not None
        self.camera_image.setVisible(shown)
        self.image.setLookupTable(self._overlay_lut if shown else self._lut)
        if not shown:
            self.camera_index = None

    def show_roi(self, roi: FrameSpec | None) -> None:
        """Follow the engine's ROI (after clamping or a source switch) unless being dragged."""
        if roi is None or self.roi.isMoving:
            return
        pos, size = self.roi.pos(), self.roi.size()
        if (int(pos.x()), int(pos.y()), int(size.x())) != (roi.roi_x, roi.roi_y, roi.roi_size):
            self.roi.setPos((roi.roi_x, roi.roi_y), update=False, finish=False)
            self.roi.setSize((roi.roi_size, roi.roi_size), update=True, finish=False)
        self.roi_text.setPos(roi.roi_x, roi.roi_y)
        self.roi_text.setText(f"ROI {roi.roi_size}px -> {roi.out_size}px")

    def current_roi(self) -> FrameSpec:
        pos, size = self.roi.pos(), self.roi.size()
        side = max(1, int(round(min(size.x(), size.y()))))
        return FrameSpec(int(round(pos.x())), int(round(pos.y())), side, self._out_size)

    def _roi_moved(self) -> None:
        if self._size == (0, 0):
            return
        self.roiChanged.emit(self.current_roi().clamped(*self._size))

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt naming
        if event.key() == Qt.Key.Key_C:
            self.roiChanged.emit(None)
        super().keyPressEvent(event)
