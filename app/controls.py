"""Controls: playback (pause, speed, loop, seek) and model settings (model, slice length,
reset policy, reset, record). Widgets only emit what the user asked for; the window forwards
it to the session. Continuous inputs (seek slider, slice spin box) are debounced."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from r2etl_core.limits import DENOISE_US
from r2etl_core.parse import SLICE_US_MAX, SLICE_US_MIN, check_slice_us
from r2etl_core.types import Readout, ResetPolicy, SourceInfo

SPEEDS: tuple[tuple[str, float | None], ...] = (
    ("0.1x", 0.1), ("0.25x", 0.25), ("0.5x", 0.5), ("1x", 1.0), ("2x", 2.0), ("5x", 5.0),
    ("10x", 10.0), ("max", None),
)
DEBOUNCE_MS = 250


def debounce_timer(parent: QWidget, slot) -> QTimer:
    timer = QTimer(parent)
    timer.setSingleShot(True)
    timer.setInterval(DEBOUNCE_MS)
    timer.timeout.connect(slot)
    return timer


def format_time(us: int) -> str:
    s = max(us, 0) / 1e6
    return f"{int(s // 60)}:{s % 60:06.3f}"


class TransportBar(QWidget):
    pausedChanged = Signal(bool)
    speedChanged = Signal(object)  # float, or None for "max"
    loopChanged = Signal(bool)
    seekRequested = Signal(int)  # microseconds after the recording start

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.play_button = QPushButton("Pause")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Pause / resume the input (files and N-MNIST folders)")
        self.play_button.toggled.connect(self._play_toggled)
        self.speed = QComboBox()
        for text, value in SPEEDS:
            self.speed.addItem(text, value)
        self.speed.setCurrentIndex(3)
        self.speed.setToolTip("Replay speed; 'max' feeds events as fast as the model keeps up")
        self.speed.currentIndexChanged.connect(lambda i: self.speedChanged.emit(self.speed.itemData(i)))
        self.loop = QCheckBox("Loop")
        self.loop.toggled.connect(self.loopChanged)
        self.seek = QSlider(Qt.Orientation.Horizontal)
        self.seek.setToolTip("Jump to a time in the recording")
        self.seek.sliderReleased.connect(self._seek_now)
        self.seek.valueChanged.connect(self._seek_value_changed)
        self._seek_debounce = debounce_timer(self, self._seek_now)
        self.time_label = QLabel("--:--")
        self.time_label.setStyleSheet("font-family: monospace;")

        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.addWidget(self.play_button)
        layout.addWidget(QLabel("speed"))
        layout.addWidget(self.speed)
        layout.addWidget(self.loop)
        layout.addWidget(self.seek, 1)
        layout.addWidget(self.time_label)
        self.set_source(None)

    def set_source(self, info: SourceInfo | None) -> None:
        """Enable what this input supports: seeking needs a known duration."""
        seekable = bool(info and info.seekable and info.duration_us)
        replay = bool(info and info.kind in ("file", "nmnist", "memory"))
        self.play_button.blockSignals(True)
        self.play_button.setChecked(False)
        self.play_button.setText("Pause")
        self.play_button.blockSignals(False)
        self.play_button.setEnabled(info is not None)
        self.speed.setEnabled(replay)
        self.loop.setEnabled(replay)
        self.seek.setEnabled(seekable)
        self.seek.blockSignals(True)
        self.seek.setRange(0, int((info.duration_us or 0) // 1000) if seekable else 0)
        self.seek.setValue(0)
        self.seek.blockSignals(False)
        self.time_label.setText("live" if info and not replay else "--:--")

    def show_playback(self, speed: float | None, loop: bool) -> None:
        """Reflect the session's speed and loop without echoing them back as requests."""
        for widget in (self.speed, self.loop):
            widget.blockSignals(True)
        index = self.speed.findData(speed)
        if speed is None:
            index = self.speed.findText("max")
        elif index < 0:  # a command-line speed that is not a preset: show it, do not claim 1x
            self.speed.addItem(f"{speed:g}x", speed)
            index = self.speed.count() - 1
        if index >= 0:
            self.speed.setCurrentIndex(index)
        self.loop.setChecked(loop)
        for widget in (self.speed, self.loop):
            widget.blockSignals(False)

    def show_position(self, position_us: int | None, duration_us: int | None) -> None:
        """``position_us``: after the recording start, as file sources report it."""
        if position_us is None or self.seek.isSliderDown() or self._seek_debounce.isActive():
            return
        rel = position_us
        self.seek.blockSignals(True)
        self.seek.setValue(int(rel // 1000))
        self.seek.blockSignals(False)
        total = f" / {format_time(duration_us)}" if duration_us else ""
        self.time_label.setText(format_time(rel) + total)

    def _play_toggled(self, paused: bool) -> None:
        self.play_button.setText("Play" if paused else "Pause")
        self.pausedChanged.emit(paused)

    def _seek_value_changed(self, _value: int) -> None:
        if not self.seek.isSliderDown():  # keyboard / page clicks: wait until they settle
            self._seek_debounce.start()

    def _seek_now(self) -> None:
        self._seek_debounce.stop()
        self.seekRequested.emit(self.seek.value() * 1000)


READOUT_CHOICES = (  # the first is the default of every front end: Readout()
    (f"moving average ({Readout().tau_ms:g} ms)", Readout()),
    ("last T slices", Readout("window")),
    (f"{Readout('staggered').copies} staggered copies", Readout("staggered")),
    ("sliding window (T copies)", Readout("staggered", copies=64)),
    ("mean since reset (old)", Readout("since-reset")),
)


class SettingsPanel(QWidget):
    modelRequested = Signal()
    sliceUsChanged = Signal(int)  # checked by parse.check_slice_us, as the CLI's --slice-us
    resetPolicyChanged = Signal(object)  # ResetPolicy
    readoutChanged = Signal(object)  # Readout
    resetRequested = Signal()
    recordToggled = Signal(bool)
    denoiseToggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._window_slices = 10
        self.model_label = QLabel("no model")
        self.model_label.setWordWrap(True)
        self.model_button = QPushButton("Open model...")
        self.model_button.setToolTip("Load another .safetensors model; the current one keeps "
                                     "running if the new one cannot be used")
        self.model_button.clicked.connect(self.modelRequested)
        self.slice_length = QDoubleSpinBox()  # shown in ms (0.1 ms steps), emitted in us
        self.slice_length.setRange(SLICE_US_MIN / 1000, SLICE_US_MAX / 1000)
        self.slice_length.setDecimals(1)
        self.slice_length.setSuffix(" ms")
        self.slice_length.setToolTip("Events per model step: a time slice (the model's training value by default)")
        self._slice_debounce = debounce_timer(self, self._emit_slice_us)
        self.slice_length.valueChanged.connect(lambda _v: self._slice_debounce.start())
        self.policy = QComboBox()
        self.policy.addItem(f"after silence ({ResetPolicy().silence_us / 1000:g} ms)", "silence")
        self.policy.addItem("every T slices", "window")
        self.policy.addItem("manual only", "manual")
        self.policy.setToolTip("When the network forgets its state (membrane potentials)")
        self.policy.currentIndexChanged.connect(self._policy_changed)
        self.readout = QComboBox()
        for label, readout in READOUT_CHOICES:
            self.readout.addItem(label, readout)
        self.readout.setToolTip("How the per-slice outputs become the prediction on a stream that "
                                "never goes silent (see docs/benchmarks.md). '—' means no decision: "
                                "no more activity than background noise in the square")
        self.readout.currentIndexChanged.connect(lambda _i: self.readoutChanged.emit(self.current_readout()))
        self.unknown = QCheckBox("say '?' for other things")
        self.unknown.setChecked(True)
        self.unknown.setToolTip("'?' (unknown): the square shows something that is none of the model's "
                                "classes (a hand, a face, the room). Off: always name the closest class")
        self.unknown.toggled.connect(lambda _on: self.readoutChanged.emit(self.current_readout()))
        self.denoise = QCheckBox(f"filter noise ({DENOISE_US / 1000:g} ms)")
        self.denoise.setToolTip("dv-processing background-activity filter: drop events with no neighbour "
                                f"active in the {DENOISE_US / 1000:g} ms before them (recordings keep every event)")
        self.denoise.toggled.connect(self.denoiseToggled)
        self.reset_button = QPushButton("Reset state")
        self.reset_button.setToolTip("Forget the network state now (start a fresh sample)")
        self.reset_button.clicked.connect(self.resetRequested)
        self.record_button = QPushButton("Record...")
        self.record_button.setCheckable(True)
        self.record_button.setToolTip("Write the input to .aedat4 with predictions (.jsonl) beside it")
        self.record_button.toggled.connect(self.recordToggled)

        form = QFormLayout()
        form.addRow("slice length", self.slice_length)
        form.addRow("readout", self.readout)
        form.addRow("unknown", self.unknown)
        form.addRow("reset state", self.policy)
        form.addRow("events", self.denoise)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(QLabel("<b>Model</b>"))
        layout.addWidget(self.model_label)
        layout.addWidget(self.model_button)
        layout.addLayout(form)
        layout.addWidget(self.reset_button)
        layout.addWidget(self.record_button)
        layout.addStretch(1)

    def show_model(self, name: str, class_count: int, input_size: int, slice_us: int,
                   time_steps: int) -> None:
        self.model_label.setText(f"{name}\n{class_count} classes, {input_size}x{input_size} input, "
                                 f"T={time_steps}")
        self._window_slices = time_steps
        self.policy.setItemText(1, f"every {time_steps} slices")
        self.slice_length.blockSignals(True)
        self.slice_length.setValue(slice_us / 1000)
        self.slice_length.blockSignals(False)

    def show_recording(self, path: str) -> None:
        self.record_button.blockSignals(True)
        self.record_button.setChecked(bool(path))
        self.record_button.blockSignals(False)
        self.record_button.setText("Stop recording" if path else "Record...")
        self.record_button.setStyleSheet("background: #a32020; color: white;" if path else "")

    def current_readout(self) -> Readout:
        chosen = self.readout.currentData()
        return chosen if self.unknown.isChecked() else replace(chosen, unknown_threshold=float("inf"))

    def current_policy(self) -> ResetPolicy:
        return ResetPolicy(self.policy.currentData(), window_slices=self._window_slices)

    def _emit_slice_us(self) -> None:
        self.sliceUsChanged.emit(check_slice_us(round(self.slice_length.value() * 1000), "slice length"))

    def _policy_changed(self, _index: int) -> None:
        self.resetPolicyChanged.emit(self.current_policy())
