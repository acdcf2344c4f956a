"""The viewer's composition root: one source, one model, one engine, an optional recorder.

``Session`` owns the ``StreamEngine`` and everything the controls change (speed, loop,
slicing, reset policy, ROI, recording). The GUI reads the engine through ``poll()`` on its
display timer; slow work (opening a camera, connecting, loading a model) runs on
``BackgroundTasks`` and is installed on the GUI thread when it is done. Switching the model
builds a new engine and re-opens the current input (the old engine closes its source), at
the same position for files.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Signal

from r2etl_core.io.recorder import Recorder
from r2etl_core.protocols import Playback, Source
from r2etl_core.stream.engine import EngineConfig, StreamEngine
from r2etl_core.stream.pipeline import (
    DENOISE_US,
    LoadedModel,
    OpenedInput,
    SourceOpener,
    StreamSettings,
    build_engine,
    build_pipeline,
    configure,
    labels_problem,
    load_model_file,
    open_input,
    open_with_core,
    read_sidecar,
)
from r2etl_core.types import EngineOutput, EngineStats, FrameSpec, Readout, ResetPolicy, SliceByTime

from .tasks import BackgroundTasks

# Outputs kept between display ticks: ~15 s of 30 ms slices, and a bound on memory if the GUI
# stalls (each output holds a full sensor frame: 3.7 MB at 1280x720).
VIEWER_ENGINE = EngineConfig(history=512)


@dataclass(frozen=True)
class PreparedModel:
    """A model loaded off the GUI thread with its engine (CUDA start-up takes seconds)."""

    loaded: LoadedModel
    engine: StreamEngine | None = None


class Session(QObject):
    sourceChanged = Signal(object)  # SourceInfo or None
    modelChanged = Signal(object)  # ModelMeta
    errorRaised = Signal(str, bool)  # one-line message, show as a dialog (GUI action) or not
    statusMessage = Signal(str)
    recordingChanged = Signal(str)  # path being written, "" when not recording

    def __init__(self, opener: SourceOpener = open_with_core,
                 segment_reader: Callable[[str], list] = read_sidecar,
                 engine_config: EngineConfig = VIEWER_ENGINE, parent: QObject | None = None):
        super().__init__(parent)
        self.opener = opener
        self.segment_reader = segment_reader
        self.engine_config = engine_config
        self.tasks = BackgroundTasks(self)
        self.engine: StreamEngine | None = None
        self.model: LoadedModel | None = None
        self.source: Source | None = None
        self.spec: str | None = None
        self.segments: tuple = ()
        self.speed: float | None = 1.0  # None: as fast as the model goes
        self.loop = False
        self.paused = False
        self.settings = StreamSettings()  # slicing, reset policy, noise filter, ROI
        self.recording: Recorder | None = None
        self._wanted_spec: str | None = None  # the input asked for last (it may still be opening)
        self.recorder_factory = Recorder  # (path, width, height, camera) -> Recorder
        self._last_error: str | None = None
        self._ended = False
        self.closed = False  # after close(), late results of background tasks are discarded

    # -- opening things ----------------------------------------------------------------------
    def open_input(self, spec: str) -> OpenedInput:
        """Blocking: open ``spec`` and read its labels (a worker thread or the CLI calls this)."""
        return open_input(spec, self.speed, self.loop, strict_labels=False, opener=self.opener,
                          segment_reader=self.segment_reader)

    def open_input_async(self, spec: str, what: str) -> None:
        self.statusMessage.emit(f"opening {what} ...")
        self._wanted_spec = spec
        self._run_open(lambda: self.open_input(spec), "r2etl-open-input")

    def load_model_async(self, path: str | Path) -> None:
        path = Path(path)
        self.statusMessage.emit(f"loading model {path.name} ...")
        self.tasks.run(lambda: self.prepare_model(path), self.install_model,
                       lambda msg: self._model_failed(path, msg), name="r2etl-load-model", key="model")

    def _run_open(self, work, name: str) -> None:
        """Open an input in the background; only the newest open wins (a slower, older one
        closes what it opened)."""
        self.tasks.run(work, self.start_input, self._open_failed, name=name, key="input",
                       discard=lambda opened: opened.source.close())

    def _open_failed(self, message: str) -> None:
        self._wanted_spec = self.spec  # keep playing (and re-open on a model change) what plays
        self.errorRaised.emit(message, True)

    def prepare_model(self, path: Path) -> PreparedModel:
        """Blocking: load a model and build its engine (moves the weights to the device)."""
        loaded = load_model_file(path)
        return PreparedModel(loaded, build_engine(loaded, self.engine_config))

    def _model_failed(self, path: Path, msg: str) -> None:
        keep = f" (still running {self.model_path.name})" if self.model_path else ""
        self.errorRaised.emit(f"{msg}{keep}", True)

    # -- installing what was opened (GUI thread) ---------------------------------------------
    @property
    def meta(self):
        return self.model.meta if self.model is not None else None

    @property
    def model_path(self) -> Path | None:
        return self.model.path if self.model is not None else None

    @property
    def playback(self) -> Playback | None:
        return self.source.playback if self.source is not None else None

    def install_model(self, prepared: PreparedModel | LoadedModel) -> None:
        """Replace the engine with one running the model; re-open the input for it."""
        if self.closed:
            return
        if isinstance(prepared, LoadedModel):
            prepared = PreparedModel(prepared)
        position = self.position_us()
        # the input the user asked for last: playing, still opening, or chosen before any model
        spec = self._wanted_spec or self.spec
        if spec != self.spec:
            position = None
        self._drop_engine()
        loaded = prepared.loaded
        self.model = loaded
        self.settings = replace(self.settings, slicing=None)  # the new model's own slicing
        self.engine = prepared.engine or build_engine(loaded, self.engine_config)
        configure(self.engine, self.settings)
        self.modelChanged.emit(loaded.meta)
        self.statusMessage.emit(f"model {loaded.path.name}: {len(loaded.meta.class_names)} classes, "
                                f"{loaded.meta.config.input_size}px input")
        if spec is not None:
            self.source = None
            self._run_open(lambda: self._reopen(spec, position), "r2etl-reopen")

    def _reopen(self, spec: str, position: int | None) -> OpenedInput:
        opened = self.open_input(spec)
        if position is not None and opened.source.playback is not None:
            opened.source.playback.seek(position)
        return opened

    def start_input(self, opened: OpenedInput) -> None:
        """Stream ``opened`` through the engine (stops and closes the previous input)."""
        if self.closed:  # the window closed while this input was being opened
            opened.source.close()
            return
        self._wanted_spec = opened.spec
        if self.recording is not None:
            self.stop_recording("input changed")
        if self.engine is None:
            opened.source.close()
            self.spec = opened.spec
            self.statusMessage.emit(f"{opened.spec} starts once a model is loaded (Model...)")
            return
        self.engine.stop()
        before = self.source.info if self.source is not None else None
        if before is None or (before.width, before.height) != (opened.source.info.width,
                                                                opened.source.info.height):
            self.settings = replace(self.settings, roi=None)  # another sensor: centred square again
        self.spec, self.source, self.segments = opened.spec, opened.source, opened.segments
        self.paused = False
        self._last_error = None
        self._ended = False
        build_pipeline(opened, self.model, self.settings, engine=self.engine)
        self.sourceChanged.emit(opened.source.info)
        info = opened.source.info
        self.statusMessage.emit(opened.warning or self._labels_warning() or
                                f"playing {info.kind} {info.name} ({info.width}x{info.height})")

    def _labels_warning(self) -> str:
        if not self.segments or self.model is None:
            return ""
        return labels_problem(self.segments, self.model) or ""

    def _drop_engine(self) -> None:
        if self.engine is None:
            return
        if self.recording is not None:
            self.stop_recording("model changed")
        self.engine.close()  # stops it and ends its model process, if any
        self.engine = None

    # -- controls ----------------------------------------------------------------------------
    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        if self.playback is not None:
            (self.playback.pause if paused else self.playback.resume)()

    def set_speed(self, speed: float | None) -> None:
        self.speed = speed
        if self.playback is not None:
            self.playback.set_speed(speed)

    def set_loop(self, loop: bool) -> None:
        self.loop = loop
        if self.playback is not None:
            self.playback.set_loop(loop)

    def seek(self, t_us: int) -> None:
        """Jump to ``t_us`` after the recording start; a file that already ended is re-opened."""
        if self.playback is None:
            return
        if self.engine is not None and not self.engine.stats().running and self.spec:
            spec = self.spec
            self._run_open(lambda: self._reopen(spec, t_us), "r2etl-reopen")
            return
        self.playback.seek(t_us)
        if self.engine is not None:
            # a fresh slicer: the old partial window belongs to another part of the recording
            self.engine.discontinuity()

    def live_camera_frames(self):
        """A live DAVIS camera's newest frames (None for files: the window reads those itself)."""
        if self.source is None or self.playback is not None:
            return None
        return self.source.camera_frames()

    def position_us(self) -> int | None:
        return self.playback.position_us if self.playback is not None else None

    def _apply(self, **changes) -> None:
        """Change the stream settings and hand them to the running engine."""
        self.settings = replace(self.settings, **changes)
        if self.engine is not None:
            configure(self.engine, self.settings)

    @property
    def reset_policy(self) -> ResetPolicy:
        return self.settings.reset

    @property
    def denoise(self) -> bool:
        return self.settings.denoise_us is not None

    def set_slice_us(self, slice_us: int) -> None:
        self._apply(slicing=SliceByTime(slice_us))

    def set_reset_policy(self, policy: ResetPolicy) -> None:
        self._apply(reset=policy)

    def set_readout(self, readout: Readout) -> None:
        self._apply(readout=readout)

    def set_denoise(self, on: bool) -> None:
        """Background-activity noise filter in front of the slicer (off by default)."""
        self._apply(denoise_us=DENOISE_US if on else None)

    def reset_state(self) -> None:
        if self.engine is not None:
            self.engine.request_reset()

    def set_roi(self, roi: FrameSpec | None) -> None:
        self._apply(roi=roi)

    # -- recording ---------------------------------------------------------------------------
    def start_recording(self, path: str | Path) -> None:
        if self.engine is None or self.source is None or not self.engine.stats().running:
            self.errorRaised.emit("nothing to record: open a camera or a network stream first", True)
            return
        info = self.source.info
        path = Path(path)
        if path.suffix.lower() != ".aedat4":  # a save dialog may drop the extension
            path = path.with_suffix(".aedat4")
        try:
            tap = self.recorder_factory(path, info.width, info.height, info.camera or info.name)
        except Exception as exc:
            from r2etl_core.errors import user_message

            self.errorRaised.emit(f"cannot record to {path}: {user_message(exc)}", True)
            return
        self.recording = tap
        self.engine.add_event_tap(tap.write_events)
        self.engine.add_sink(tap)
        self.recordingChanged.emit(str(tap.path))
        recovered = getattr(tap, "recovered", None)  # what a killed recording to this name left
        note = f" ({recovered.message})" if recovered is not None else ""
        self.statusMessage.emit(f"recording to {tap.path}{note}")

    def stop_recording(self, why: str = "") -> None:
        tap, self.recording = self.recording, None
        if tap is None:
            return
        if self.engine is not None:
            self.engine.remove_event_tap(tap.write_events)
            self.engine.remove_sink(tap)
        tap.close()
        self.recordingChanged.emit("")
        note = f" ({why})" if why else ""
        if not getattr(tap, "finished", True):  # e.g. the disk filled up while finishing
            self.errorRaised.emit(f"recording stopped: {tap.failure}; {tap.path.name} is not finished: "
                                  "record to the same name again to recover what was written", True)
            return
        self.statusMessage.emit(f"saved {tap.path} and {tap.predictions_path.name}{note}")

    # -- display-rate reads (GUI timer) ------------------------------------------------------
    def poll(self, with_stats: bool = True) -> tuple[list[EngineOutput], EngineStats | None]:
        """New outputs since the last poll and (``with_stats``) the engine's stats; never blocks.
        Stats cost percentiles under the engine's lock: the window asks a few times a second."""
        if self.engine is None:
            return [], None
        outputs = self.engine.take_outputs()
        if not with_stats:
            return outputs, None
        stats = self.engine.stats()
        if stats.error and stats.error != self._last_error:
            self._last_error = stats.error
            self.errorRaised.emit(stats.error, False)
        if self.recording is not None and self.recording.failure:
            tap, failure = self.recording, self.recording.failure
            self.stop_recording()
            if getattr(tap, "finished", True):  # else stop_recording said why, and what to do
                self.errorRaised.emit(f"recording stopped: {failure}", True)
        if self.source is not None and not stats.running and not self._ended:
            self._ended = True
            lost = stats.error or stats.input_lost
            if self.recording is not None:
                self.stop_recording(f"input lost: {lost}" if lost else "input ended")
            if stats.input_lost and not stats.error:
                self.errorRaised.emit(f"{stats.input_lost}: open the input again, or another one", False)
            elif not stats.error and self.recording is None:
                self.statusMessage.emit("end of input: tick Loop, drag the time slider, or open "
                                        "another input" if self.playback is not None else
                                        "end of input: open it again, or another input")
        return outputs, stats

    def close(self) -> None:
        """Window closing: finish the recording file first, then stop the engine."""
        self.closed = True
        self.stop_recording("viewer closed")
        if self.engine is not None:
            self.engine.close()
            self.engine = None
        self.source = None
