"""The event view: the whole sensor (ON cyan, OFF magenta), a square ROI that chooses what the
model sees, and an inset of the model's input frame.

Image items are created once with fixed levels; new frames only ``setImage``. Every slice
that arrived since the last display tick is blended in (older ones fade), so no events are
hidden by the display rate even when it is slower than the slice rate.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.views.palette import polarity_index, polarity_lut
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

        side = QVBoxLayout()
        title = QLabel("<b>What the model sees</b>")
        side.addWidget(title)
        side.addWidget(self.inset_canvas)
        side.addWidget(self.inset_label)
        side.addWidget(self.centre_button)
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

    # -- inputs ------------------------------------------------------------------------------
    def set_sensor(self, width: int, height: int, label: str = "") -> None:
        self._size = (width, height)
        self._accum = np.zeros((2, height, width), np.float32)
        self.image.setImage(polarity_index(self._accum), levels=(0, 255))
        self.image.setRect(QRectF(0, 0, width, height))
        self.roi.maxBounds = QRectF(0, 0, width, height)
        self.view.setRange(QRectF(0, 0, width, height), padding=0.02)
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
