"""Class probabilities, the top class, the true label (when the recording has a labels
sidecar), a running segment accuracy, and a strip of the recent top classes over time."""

from __future__ import annotations

import collections

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from app.views.palette import NO_DATA_RGB, UNKNOWN_HEX, class_rgb
from r2etl_core.stream.colours import answer_rgb, label_rgb
from r2etl_core.io.labels import IDLE_LABEL, NEGATIVE_LABELS
from r2etl_core.stream.scoring import RunningScore, identity
from r2etl_core.types import ABSTAIN_UNKNOWN, NOTHING_ANSWER, UNKNOWN_ANSWER, EngineOutput, Prediction

NO_DECISION = NOTHING_ANSWER  # an em dash: nothing but background noise in the square

HISTORY_SLICES = 200


class PredictionView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.class_names: tuple[str, ...] = ()
        self.segments: tuple = ()
        self.score = RunningScore(())
        self.probabilities = np.zeros(0)
        # predictions in recording time (see RunningScore.to_recording_time)
        self.history: collections.deque[Prediction] = collections.deque(maxlen=HISTORY_SLICES)
        self._score_dirty = False
        self._strip_img: np.ndarray | None = None
        self._strip_span = 0.0

        self.top_label = QLabel("-")
        self.top_label.setStyleSheet("font-size: 30px; font-weight: bold;")
        self.truth_label = QLabel("")
        self.truth_label.setStyleSheet("font-size: 20px;")
        self.accuracy_label = QLabel("no labels for this input")
        self.accuracy_label.setStyleSheet("color: #8a93a3")

        self.bars_plot = pg.PlotWidget()
        self.bars_plot.setMenuEnabled(False)
        self.bars_plot.setMouseEnabled(False, False)
        self.bars_plot.hideButtons()
        self.bars_plot.setYRange(0, 1, padding=0)
        self.bars_plot.setLabel("left", "probability")
        self.bars_plot.setMinimumHeight(150)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.75)
        self.bars_plot.addItem(self.bars)

        self.strip_plot = pg.PlotWidget()
        self.strip_plot.setMenuEnabled(False)
        self.strip_plot.setMouseEnabled(False, False)
        self.strip_plot.hideButtons()
        self.strip_plot.setLabel("bottom", "seconds before the newest slice")
        self.strip_plot.setFixedHeight(110)
        self.strip = pg.ImageItem(levels=(0, 255))
        self.strip_plot.addItem(self.strip)

        head = QGridLayout()
        self.readout_label = QLabel("model says")
        self.readout_label.setToolTip("The readout in use: how per-slice outputs become this answer")
        head.addWidget(self.readout_label, 0, 0)
        head.addWidget(self.top_label, 1, 0)
        head.addWidget(QLabel("recording says"), 0, 1)
        head.addWidget(self.truth_label, 1, 1)
        head.setColumnStretch(0, 1)
        head.setColumnStretch(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(head)
        layout.addWidget(self.accuracy_label)
        layout.addWidget(self.bars_plot, 1)
        strip_title = QLabel("<b>Recent predictions</b>: the model's answer per slice (brighter = "
                             f"more confident, <span style='color:{UNKNOWN_HEX}'>amber = ? unknown</span>: "
                             "none of its classes, grey = \u2014 nothing there) over the true label: the "
                             "gap after each change of label is the settle time")
        strip_title.setWordWrap(True)
        layout.addWidget(strip_title)
        layout.addWidget(self.strip_plot)

    # -- configuration -----------------------------------------------------------------------
    def set_classes(self, class_names: tuple[str, ...]) -> None:
        self.class_names = tuple(class_names)
        k = len(self.class_names)
        self.probabilities = np.zeros(k)
        brushes = [pg.mkBrush(*class_rgb(i)) for i in range(k)]
        self.bars.setOpts(x=np.arange(k), height=self.probabilities, brushes=brushes)
        self.bars_plot.setXRange(-0.6, k - 0.4, padding=0)
        self.bars_plot.getAxis("bottom").setTicks([list(enumerate(self.class_names))])
        self.clear_history()

    def show_readout(self, description: str) -> None:
        self.readout_label.setText(f"model says <span style='color:#8a93a3'>({description})</span>")

    def set_segments(self, segments, time_map=identity) -> None:
        """Labels of the input; ``time_map`` maps stream time to recording time (loops, seeks)."""
        self.segments = tuple(segments)
        self.score = RunningScore(self.segments, time_map)
        self.clear_history()

    def update_segments(self, segments) -> None:
        """Labels edited while the input plays (label bar): keep the recent predictions, score
        them again and redraw the truth row with the new labels."""
        self.segments = tuple(segments)
        self.score = RunningScore(self.segments, self.score.time_map)
        for pred in self.history:
            self.score.add(pred)
        if self.history:
            self._show_truth(self.history[-1])
        self.accuracy_label.setText(self.score.summary() if self.segments
                                    else "no labels for this input (no <name>.labels.csv beside it)")
        self._draw_strip()

    def clear_history(self) -> None:
        self.history.clear()
        self.top_label.setText("-")
        self.truth_label.setText("")
        self.accuracy_label.setText(self.score.summary() if self.segments
                                    else "no labels for this input (no <name>.labels.csv beside it)")
        self._draw_strip()

    # -- display-rate update ---------------------------------------------------------------------
    def add_outputs(self, outputs: list[EngineOutput]) -> None:
        if not outputs:
            return
        new = []
        for out in outputs:
            pred = self.score.to_recording_time(out.prediction)  # labels may come later (label bar)
            new.append(pred)
            self.history.append(pred)
            if self.segments:
                self.score.add(pred)
        self.probabilities = np.asarray(pred.probabilities, float)
        self.bars.setOpts(height=self.probabilities)
        if pred.decided:
            colour = "#%02x%02x%02x" % class_rgb(pred.top_class)
            self.top_label.setText(f"<span style='color:{colour}'>{pred.top_label}</span> "
                                   f"<span style='font-size:18px'>{pred.confidence:.0%}</span>")
        elif pred.abstain == ABSTAIN_UNKNOWN:
            self.top_label.setText(f"<span style='color:{UNKNOWN_HEX}'>{UNKNOWN_ANSWER}</span> "
                                   f"<span style='font-size:14px;color:{UNKNOWN_HEX}'>unknown: none of my "
                                   f"classes (closest {pred.top_label})</span>")
        else:
            self.top_label.setText(f"<span style='color:#8a93a3'>{NO_DECISION}</span> "
                                   "<span style='font-size:14px;color:#8a93a3'>no decision</span>")
        self._show_truth(pred)
        self._score_dirty = True
        self._draw_strip(new)

    def update_score(self) -> None:
        """Refresh the running accuracy text (a few times a second, not per frame)."""
        if self._score_dirty and self.segments:
            self._score_dirty = False
            self.accuracy_label.setText(self.score.summary())

    def _truth_at(self, pred: Prediction) -> str | None:
        return self.score.label_at(pred)

    def _show_truth(self, pred: Prediction) -> None:
        if not self.segments:
            self.truth_label.setText("<span style='color:#8a93a3'>(no labels)</span>")
            return
        truth = self._truth_at(pred)
        if truth is None:
            self.truth_label.setText("<span style='color:#8a93a3'>(between samples)</span>")
        elif truth in NEGATIVE_LABELS:
            ok = pred.abstain == ABSTAIN_UNKNOWN
            mark = "<span style='color:#4cd964'>match</span>" if ok else \
                "<span style='color:#ff5a5a'>differs</span>"
            self.truth_label.setText(f"<b style='color:{UNKNOWN_HEX}'>{UNKNOWN_ANSWER}</b> "
                                     f"<span style='font-size:14px'>none of the classes {mark}</span>")
        elif truth == IDLE_LABEL:
            ok = pred.answer == NOTHING_ANSWER
            mark = "<span style='color:#4cd964'>match</span>" if ok else \
                "<span style='color:#ff5a5a'>differs</span>"
            self.truth_label.setText(f"<b>{NO_DECISION}</b> <span style='font-size:14px'>nothing there "
                                     f"{mark}</span>")
        else:
            ok = truth == pred.label
            mark = "<span style='color:#4cd964'>match</span>" if ok else \
                "<span style='color:#ff5a5a'>differs</span>"
            self.truth_label.setText(f"<b>{truth}</b>  <span style='font-size:14px'>{mark}</span>")

    def _strip_columns(self, preds: list[Prediction]) -> np.ndarray:
        """``[rows, len(preds), 3]`` colours (``stream.colours``): the answer; the true label."""
        rows = 2 if self.segments else 1
        cols = np.tile(NO_DATA_RGB, (rows, len(preds), 1))
        for col, pred in enumerate(preds):
            if pred.event_count == 0:
                continue
            cols[0, col] = answer_rgb(pred)
            if rows == 2:
                cols[1, col] = label_rgb(self._truth_at(pred), self.class_names)
        return cols

    def _draw_strip(self, new: list[Prediction] | None = None) -> None:
        """Scroll in the columns of ``new`` predictions (None: redraw from the history)."""
        rows = 2 if self.segments else 1
        if new is None or self._strip_img is None or self._strip_img.shape[0] != rows:
            self._strip_img = np.tile(NO_DATA_RGB, (rows, HISTORY_SLICES, 1))
            new = list(self.history)
            self._strip_axes(rows)
        new = new[-HISTORY_SLICES:]
        if new:
            self._strip_img = np.roll(self._strip_img, -len(new), axis=1)
            self._strip_img[:, -len(new):] = self._strip_columns(new)
        self.strip.setImage(self._strip_img, autoLevels=False)
        if new:  # x = recording seconds before the newest slice; robust to loops and seeks
            slice_s = (new[-1].t_end_us - new[-1].t_start_us) / 1e6
            span = HISTORY_SLICES * max(slice_s, 1e-4)
            if abs(span - self._strip_span) > 1e-9:
                self._strip_span = span
                self.strip.setRect(QRectF(-span, 0, span, rows))
                self.strip_plot.setXRange(-span, 0, padding=0)

    def _strip_axes(self, rows: int) -> None:
        self._strip_span = 0.0
        self.strip.setRect(QRectF(-1, 0, 1, rows))
        self.strip_plot.setXRange(-1, 0, padding=0)
        self.strip_plot.setYRange(0, rows, padding=0)
        ticks = [(0.5, "model")] + ([(1.5, "truth")] if rows == 2 else [])
        self.strip_plot.getAxis("left").setTicks([ticks])
