"""The main window: views, controls and the display timer that feeds them from the session."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QLabel,
    QMainWindow,
    QScrollArea,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app import dialogs
from app.camera_frames import CameraFramesFeed
from app.controls import SettingsPanel, TransportBar
from app.doctor_dialog import DoctorMenu
from app.drops import FileDrops
from app.label_bar import LabelBar
from app.labelling import RECORD, Labeller, recording_time_of
from app.open_inputs import OpenInputs
from app.session import Session
from app.theme import apply_dark_theme
from app.views.event_view import EventView
from app.views.predictions import PredictionView
from app.views.spikes import SpikeView
from app.views.stats import StatsView
from app.views.timeline import TimelineJob, TimelineView
from r2etl_core.nn.meta import ModelMeta
from r2etl_core.stream.scoring import identity
from r2etl_core.types import SourceInfo

DISPLAY_HZ = 30
SLOW_EVERY_TICKS = 6  # stats, accuracy, position, ROI: ~5 times a second


class MainWindow(FileDrops, OpenInputs, QMainWindow):
    def __init__(self, session: Session, recordings_dir: Path | None = None):
        super().__init__()
        apply_dark_theme(QApplication.instance())
        self.session = session
        self.recordings_dir = str(recordings_dir or Path.cwd())
        self.runs_dir = Path(os.environ.get("R2ETL_RUNS", Path.cwd() / "runs"))  # Teach writes its models here
        self.recorded: list[Path] = []  # recordings made in this session (Teach trains on them)
        self.teach_panel = None
        self.display_skipped = 0  # slices blended into a frame instead of drawn on their own
        self.ticks = 0
        self.errors = dialogs.ErrorDialogs(self)
        self.last_error = ""
        self._last_host = "127.0.0.1:7777"
        self.setWindowTitle("r2etl viewer")
        self._fit_to_screen(1600, 1000)

        self.event_view = EventView()
        self.prediction_view = PredictionView()
        self.spike_view = SpikeView()
        self.stats_view = StatsView()
        self.transport = TransportBar()
        self.timeline = TimelineView()  # the whole recording, under the seek bar
        self.timeline_job = TimelineJob(self.timeline, self)
        self.settings = SettingsPanel()
        self.label_bar = LabelBar()
        self.labeller = Labeller(session, self.label_bar, self)
        self.camera_frames = CameraFramesFeed(self, session, self.event_view, self.statusBar().showMessage)
        self._build_layout()
        self._build_toolbar()
        self.doctor = DoctorMenu(self, lambda: self.recordings_dir, lambda: self.session.model_path)  # Help menu
        self.source_label = QLabel("no input")
        self.statusBar().addPermanentWidget(self.source_label)
        self._connect()
        self.enable_drops()  # an event file or N-MNIST folder dropped on the window opens it

        self.timer = QTimer(self)
        self.timer.setInterval(1000 // DISPLAY_HZ)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()

    # -- construction ------------------------------------------------------------------------
    def _fit_to_screen(self, width: int, height: int) -> None:
        """The designed size, or 92% of a smaller screen (laptops). Offscreen (tests, scripted
        screenshots) keeps the designed size: its virtual screen is only 800x600."""
        screen = QApplication.primaryScreen()
        if screen is not None and QApplication.platformName() != "offscreen":
            free = screen.availableGeometry()
            width = min(width, int(free.width() * 0.92))
            height = min(height, int(free.height() * 0.92))
        self.resize(width, height)

    def _build_layout(self) -> None:
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.event_view)
        top.addWidget(self.prediction_view)
        top.setStretchFactor(0, 3)
        top.setStretchFactor(1, 2)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(self.spike_view)
        bottom.addWidget(scrolling(self.settings))
        bottom.addWidget(scrolling(self.stats_view))
        bottom.setStretchFactor(0, 1)
        bottom.setStretchFactor(1, 0)
        bottom.setStretchFactor(2, 0)
        main = QSplitter(Qt.Orientation.Vertical)
        main.addWidget(top)
        main.addWidget(bottom)
        main.setStretchFactor(0, 3)
        main.setStretchFactor(1, 2)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.transport)
        layout.addWidget(self.timeline)
        layout.addWidget(self.label_bar)
        layout.addWidget(main, 1)
        self.setCentralWidget(central)

    def _build_toolbar(self) -> None:
        bar = QToolBar("Input")
        bar.setMovable(False)
        self.addToolBar(bar)
        for text, key, tip, slot in (
            ("Open recording...", "Ctrl+O", "Replay an event file (.aedat4, .raw, .dat, .es, .csv, .h5, "
             ".aedat) or N-MNIST .bin; or drop one on the window", self.open_recording),
            ("Open N-MNIST folder...", "", "Replay every .bin sample of a folder", self.open_nmnist_folder),
            ("Camera...", "", "Stream from an attached event camera", self.open_camera),
            ("Connect...", "", "Receive a network event stream (HOST:PORT)", self.open_network),
            ("Model...", "Ctrl+M", "Load another .safetensors model", self.open_model),
            ("Teach...", "Ctrl+T", "Train the model on your labelled recordings, here, while the stream runs",
             self.open_teach),
        ):
            action = QAction(text, self)
            action.setToolTip(f"{tip} ({key})" if key else tip)
            if key:
                action.setShortcut(QKeySequence(key))
            action.triggered.connect(slot)
            bar.addAction(action)
        QShortcut(QKeySequence("Ctrl+Q"), self, activated=self.close)
        QShortcut(QKeySequence("Space"), self, activated=self.transport.play_button.toggle)

    def _connect(self) -> None:
        s = self.session
        s.sourceChanged.connect(self._source_changed)
        s.modelChanged.connect(self._model_changed)
        s.errorRaised.connect(self.show_error)
        s.statusMessage.connect(lambda msg: self.statusBar().showMessage(msg))
        s.recordingChanged.connect(self.settings.show_recording)
        s.recordingChanged.connect(self.labeller.recording_changed)
        s.recordingChanged.connect(lambda p: p and self.recorded.append(Path(p)))
        self.labeller.segmentsChanged.connect(self._labels_edited)
        self.labeller.message.connect(lambda msg: self.statusBar().showMessage(msg))
        self.transport.seekRequested.connect(self.labeller.seeked)  # before the jump
        self.event_view.roiChanged.connect(s.set_roi)
        self.transport.pausedChanged.connect(s.set_paused)
        self.transport.speedChanged.connect(s.set_speed)
        self.transport.loopChanged.connect(s.set_loop)
        self.transport.seekRequested.connect(s.seek)
        self.timeline.seekRequested.connect(self.labeller.seeked)
        self.timeline.seekRequested.connect(s.seek)
        self.settings.modelRequested.connect(self.open_model)
        self.settings.sliceUsChanged.connect(s.set_slice_us)
        self.settings.resetPolicyChanged.connect(s.set_reset_policy)
        self.settings.readoutChanged.connect(s.set_readout)
        self.settings.readoutChanged.connect(self._show_readout)
        self._show_readout()
        self.settings.resetRequested.connect(s.reset_state)
        self.settings.denoiseToggled.connect(s.set_denoise)
        self.settings.recordToggled.connect(self._record_toggled)

    def _show_readout(self, _readout=None) -> None:
        self.prediction_view.show_readout(self.settings.readout.currentText())

    # -- session -> views --------------------------------------------------------------------
    def _source_changed(self, info: SourceInfo | None) -> None:
        self.transport.set_source(info)
        self.transport.show_playback(self.session.speed, self.session.loop)
        playback = self.session.playback
        self.prediction_view.set_segments(self.session.segments,
                                          playback.recording_time_us if playback is not None else identity)
        self.labeller.input_changed()
        self.camera_frames.input_changed()
        if info is None:
            self.source_label.setText("no input")
            return
        camera = f", {info.camera}" if info.camera else ""
        self.event_view.set_sensor(info.width, info.height,
                                   f"{info.kind}: {Path(info.name).name or info.name}\n"
                                   f"sensor {info.width} x {info.height}{camera}")
        if self.session.engine is not None:
            self.event_view.show_roi(self.session.engine.roi)  # before the first stats tick
        self._show_source_label()
        self.setWindowTitle(f"r2etl viewer - {Path(info.name).name or info.name}")

    def _show_source_label(self) -> None:
        info = self.session.source.info if self.session.source is not None else None
        if info is None:
            return
        labels = f", {len(self.session.segments)} labelled segments" if self.session.segments else ""
        self.source_label.setText(f"{info.kind}: {info.name}{labels}")

    def _labels_edited(self, segments) -> None:
        """The label bar changed the labels: the truth row follows (None: labelling ended, back
        to the input's own). A replayed file being recorded keeps showing its own labels."""
        if segments is None:
            segments = self.session.segments
        elif self.labeller.mode == RECORD and self.session.playback is not None:
            return
        self.prediction_view.update_segments(segments)
        self._show_source_label()

    def _model_changed(self, meta: ModelMeta) -> None:
        self.prediction_view.set_classes(meta.class_names)
        self.label_bar.set_model_classes(meta.class_names)
        self.event_view.set_model_input(meta.config.input_size)
        self.spike_view.set_layers(())
        path = self.session.model_path
        self.settings.show_model(path.name if path else "?", len(meta.class_names),
                                 meta.config.input_size, meta.slicing.slice_us, meta.config.time_steps)

    def show_error(self, message: str, dialog: bool = True) -> None:
        self.last_error = message
        self.statusBar().showMessage(f"error: {message}")
        if dialog:
            self.errors.show(message)

    def refresh(self) -> None:
        """Display tick: draw what the engine produced since the last tick; never blocks."""
        self.ticks += 1
        slow_tick = self.ticks % SLOW_EVERY_TICKS == 0
        outputs, stats = self.session.poll(with_stats=slow_tick)
        if outputs:
            self.display_skipped += len(outputs) - 1
            self.event_view.show_outputs(outputs)
            self.prediction_view.add_outputs(outputs)
            self.spike_view.add_outputs(outputs)
            self.labeller.note_outputs(outputs)
            self.event_view.show_camera_frame(recording_time_of(outputs[-1].prediction, self.session.playback))
        if slow_tick:
            self.camera_frames.show_live(outputs)
            self.prediction_view.update_score()
            self.stats_view.show_stats(stats, self.display_skipped, self.session.paused)
            info = self.session.source.info if self.session.source is not None else None
            self.transport.show_position(self.session.position_us(), info.duration_us if info else None)
            self.timeline_job.follow(self.session)
            if stats is not None:
                self.event_view.show_roi(stats.roi)

    # -- user actions ------------------------------------------------------------------------
    def session_recordings(self) -> list[Path]:
        """What Teach offers to train on: this session's recordings and the open file."""
        spec = self.session.spec
        is_file = spec is not None and self.session.playback is not None and Path(spec).is_file()
        return self.recorded + ([Path(spec)] if is_file else [])

    def open_teach(self) -> None:
        if self.teach_panel is None:
            from app.teach import TeachPanel

            self.teach_panel = TeachPanel(self, self.runs_dir)
            self.teach_panel.modelChosen.connect(self.session.load_model_async)
        self.teach_panel.refresh()
        self.teach_panel.show()
        self.teach_panel.raise_()

    def open_model(self) -> None:
        start = str(self.session.model_path.parent) if self.session.model_path else ""
        path = dialogs.ask_model(self, start)
        if path:
            self.session.load_model_async(path)

    def _record_toggled(self, on: bool) -> None:
        if not on:
            self.session.stop_recording()
            return
        path = dialogs.ask_record_path(self, self.recordings_dir)
        if path:
            self.session.start_recording(path)
        if self.session.recording is None:
            self.settings.show_recording("")

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt naming
        self.timer.stop()
        self.timeline_job.cancel()
        if self.teach_panel is not None:
            self.teach_panel.cancel()  # a training run does not outlive the viewer
        self.labeller.finish()  # the open label ends where the picture is; the sidecar is saved
        self.session.close()  # finishes a recording file before the engine stops
        super().closeEvent(event)


def scrolling(panel: QWidget) -> QScrollArea:
    """``panel`` in a scroll area: on a small screen controls scroll instead of squashing plots."""
    scroll = QScrollArea()
    scroll.setWidget(panel)
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setMinimumWidth(panel.sizeHint().width() + 16)
    return scroll
