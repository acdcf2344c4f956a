"""Teach: train the current model on the labelled recordings of this session, without a terminal.

Record and label with the label bar, open Teach, press Train: ``r2etl_core.train.teach.TeachRun``
trains in its own process (the stream keeps playing) from the current model, sized from the
data; the panel shows progress, an ETA, the loss and held-out accuracy as they come, and per
class held-out accuracy at the end. "Use it" swaps the new model in while the stream runs;
"Back" returns to the model used before. Every run stays in the runs folder, listed here.
"""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from r2etl_core.errors import user_message
from r2etl_core.io.labels import labels_path_for
from r2etl_core.train.datasets.camera_images import recordings_have_frames
from r2etl_core.train.datasets.recordings import find_recordings
from r2etl_core.train.teach import TeachRun, labelled_material, list_runs, run_summary

POLL_MS = 500
MIN_WINDOWS = 8  # fewer training windows than this for a class: say so before training


def labelled_recordings(folder: Path) -> list[Path]:
    """Event files under ``folder`` that have a labels sidecar (hidden folders and link loops skipped)."""
    return [p for p in find_recordings(Path(folder)) if labels_path_for(p)]


class TeachPanel(QDialog):
    modelChosen = Signal(str)  # a model file to switch to (the window loads it)

    def __init__(self, window, runs_dir: Path):
        super().__init__(window)
        self.setWindowTitle("Teach r2etl your own classes")
        self.window_ = window
        self.runs_dir = Path(runs_dir)
        self.extra_recordings: list[Path] = []
        self.left_out: set[Path] = set()  # recordings unticked in the list
        self.run: TeachRun | None = None
        self.previous_model: Path | None = None
        self.trained: Path | None = None
        self._build()
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)
        self.refresh()

    def _build(self) -> None:
        self.recordings = QListWidget()
        self.recordings.setToolTip("Labelled recordings training will use (untick to leave one out): those "
                                   "recorded in this session, the open one if it has labels, and any folder added")
        self.recordings.itemChanged.connect(self._ticked)
        add = QPushButton("Add folder...")
        add.clicked.connect(self.add_folder)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["class", "seconds", "windows", "recordings"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.frames = QCheckBox("also learn from the recordings' camera frames (DAVIS)")
        self.frames.setToolTip("R2ETL's image side from the grey frames a DAVIS records beside its events. "
                               "Off by default: on our stand-ins events alone did better (docs/own-classes.md)")
        self.train_button = QPushButton("Train")
        self.train_button.setToolTip("Train the current model on these recordings in the background; the stream "
                                     "keeps playing")
        self.train_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.use_button = QPushButton("Use it")
        self.use_button.setToolTip("Switch the viewer to the model just trained (the stream keeps going)")
        self.use_button.clicked.connect(self.use_trained)
        self.back_button = QPushButton("Back to the previous model")
        self.back_button.clicked.connect(self.use_previous)
        self.progress = QProgressBar()
        self.eta = QLabel("")
        self.curve = pg.PlotWidget()
        self.curve.setFixedHeight(150)
        self.curve.showGrid(x=True, y=True, alpha=0.3)
        self.curve.setLabel("bottom", "step")
        self.curve.addLegend(offset=(-10, 10))
        self.loss_line = self.curve.plot([], [], pen=pg.mkPen("#5aebff"), name="training loss")
        self.val_line = self.curve.plot([], [], pen=pg.mkPen("#4cd964"), symbol="o", symbolSize=6,
                                        name="held-out accuracy")
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.result.setTextFormat(Qt.TextFormat.RichText)
        self.runs = QListWidget()
        self.runs.setToolTip("Models trained here (newest first): double-click one to use it")
        self.runs.itemDoubleClicked.connect(lambda item: self._choose(Path(item.data(Qt.ItemDataRole.UserRole))))
        buttons = QHBoxLayout()
        for b in (self.train_button, self.cancel_button, self.use_button, self.back_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(QLabel("Recordings"))
        top.addStretch(1)
        top.addWidget(add)
        layout.addLayout(top)
        layout.addWidget(self.recordings)
        layout.addWidget(self.table)
        layout.addWidget(self.note)
        layout.addWidget(self.frames)
        layout.addLayout(buttons)
        bar = QHBoxLayout()
        bar.addWidget(self.progress, 1)
        bar.addWidget(self.eta)
        layout.addLayout(bar)
        layout.addWidget(self.curve)
        layout.addWidget(self.result)
        layout.addWidget(QLabel(f"Trained models ({self.runs_dir})"))
        layout.addWidget(self.runs)
        self.resize(560, 720)

    # -- what training will use ------------------------------------------------------------------
    def offered_recordings(self) -> list[Path]:
        found = list(self.window_.session_recordings()) + self.extra_recordings
        seen, out = set(), []
        for p in found:
            key = Path(p).resolve()
            if key not in seen and labels_path_for(p):
                seen.add(key)
                out.append(key)
        return out

    def chosen_recordings(self) -> list[Path]:
        return [p for p in self.offered_recordings() if p not in self.left_out]

    def _ticked(self, item: QListWidgetItem) -> None:
        path = Path(item.data(Qt.ItemDataRole.UserRole))
        (self.left_out.discard if item.checkState() == Qt.CheckState.Checked else self.left_out.add)(path)
        self.refresh()

    def add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of labelled recordings")
        if folder:
            try:
                self.extra_recordings += labelled_recordings(Path(folder))
            except Exception as exc:  # an unreadable folder: one line, the panel stays
                self.note.setText(f"cannot read {folder}: {user_message(exc)}")
                return
            self.refresh()

    def refresh(self) -> None:
        """Recordings, material per class, runs; what can be pressed."""
        recs = self.chosen_recordings()
        self.recordings.blockSignals(True)
        self.recordings.clear()
        for p in self.offered_recordings():
            item = QListWidgetItem(str(p))
            item.setData(Qt.ItemDataRole.UserRole, str(p))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked if p in self.left_out else Qt.CheckState.Checked)
            self.recordings.addItem(item)
        self.recordings.blockSignals(False)
        meta = self.window_.session.meta
        material = []
        if meta is not None and recs:
            try:
                material = labelled_material(recs, meta.slicing.slice_us or 30_000, meta.config.time_steps)
            except Exception as exc:  # a sidecar being written, or broken: say which
                self.note.setText(f"labels unreadable: {user_message(exc)}")
        self.table.setRowCount(len(material))
        for row, m in enumerate(material):
            for col, v in enumerate((m.label, f"{m.seconds:.1f}", str(m.windows), str(m.recordings))):
                self.table.setItem(row, col, QTableWidgetItem(v))
        few = [m.label for m in material if m.windows < MIN_WINDOWS]
        if not recs:
            self.note.setText("No labelled recordings yet: record (Record...) while pressing a class key of the "
                              "label bar for each thing you show, or add a folder of labelled recordings.")
        elif len(material) < 2:
            self.note.setText("Label at least two classes (one is no choice to learn).")
        elif few:
            self.note.setText(f"Little material for {few}: a few seconds each is enough to start.")
        elif not self.note.text().startswith("labels unreadable"):
            self.note.setText("")
        has_frames = bool(recs) and recordings_have_frames(recs)
        self.frames.setEnabled(has_frames)
        if not has_frames:
            self.frames.setChecked(False)
        running = self.run is not None and not self.run.progress.done
        self.train_button.setEnabled(not running and len(material) >= 2 and meta is not None)
        self.cancel_button.setEnabled(running)
        self.use_button.setEnabled(self.trained is not None and not running)
        self.back_button.setEnabled(self.previous_model is not None)
        self._list_runs()

    def _list_runs(self) -> None:
        self.runs.clear()
        for run in list_runs(self.runs_dir):
            score = "-" if run.val_accuracy is None else f"{run.val_accuracy:.0%}"
            item = QListWidgetItem(f"{run.path.parent.parent.name}: {', '.join(run.classes)}  held-out {score}")
            item.setData(Qt.ItemDataRole.UserRole, str(run.path))
            self.runs.addItem(item)

    # -- training --------------------------------------------------------------------------------
    def start(self) -> None:
        model = self.window_.session.model_path
        if model is None:
            return
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            self.run = TeachRun(self.chosen_recordings(), model, self.runs_dir, frames=self.frames.isChecked())
        except Exception as exc:
            self.result.setText(f"cannot start training: {user_message(exc)}")
            return
        self.trained = None
        self.result.setText("training ...")
        self.progress.setValue(0)
        self.timer.start()
        self.refresh()

    def cancel(self) -> None:
        if self.run is not None:
            self.run.cancel()
            self.poll()

    def poll(self) -> None:
        if self.run is None:
            return
        p = self.run.poll()
        if p.total:
            self.progress.setMaximum(p.total)
            self.progress.setValue(p.step)
        eta = p.eta_s
        self.eta.setText(f"{p.step}/{p.total or '?'} steps" + (f", about {eta:.0f} s left" if eta is not None else ""))
        if p.losses:
            steps, losses = zip(*p.losses)
            self.loss_line.setData(list(steps), list(losses))
        if p.val:
            steps, acc = zip(*p.val)
            self.val_line.setData(list(steps), list(acc))
        if p.done:
            self.timer.stop()
            self._finished(p)

    def _finished(self, p) -> None:
        if p.failed:
            self.result.setText(f"training stopped: {p.failed} (log: {self.run.out / 'train.log'})")
        else:
            self.trained = self.run.best
            s = run_summary(self.trained)
            per_class = ", ".join(f"{k} {'-' if v is None else f'{v:.0%}'}" for k, v in s.per_class.items())
            took = f" in {s.seconds:.0f} s" if s.seconds else ""
            self.result.setText(f"<b>held-out accuracy {s.val_accuracy:.0%}</b>{took} ({per_class}). "
                                f"Press <i>Use it</i> to switch to it.")
        self.refresh()

    # -- swapping ---------------------------------------------------------------------------------
    def use_trained(self) -> None:
        if self.trained is not None:
            self._choose(self.trained)

    def use_previous(self) -> None:
        if self.previous_model is not None:
            self._choose(self.previous_model, remember=False)

    def _choose(self, path: Path, remember: bool = True) -> None:
        current = self.window_.session.model_path
        if remember and current is not None and Path(current) != Path(path):
            self.previous_model = Path(current)
        elif not remember:
            self.previous_model = None
        self.modelChosen.emit(str(path))
        self.refresh()
