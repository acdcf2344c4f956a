"""The viewer's composition root: one source, one model, one engine, an optional recorder.

``Session`` owns the ``StreamEngine`` and everything the controls change (speed, loop,
slicing, reset policy, ROI, recording). The GUI reads the engine through ``poll()`` on its
display timer; slow work (opening a camera, connecting, loading a model) runs on
``BackgroundTasks`` and is installed on the GUI thread when it is done. Switching the model
builds a new engine and re-opens the current input (the old engine closes its source), at
the same position for files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Signal

from r2etl_core.stream.classify import noise_filter_factory
from r2etl_core.errors import R2ETLError
from r2etl_core.stream.engine import EngineConfig, EngineStats, StreamEngine
from r2etl_core.nn.inference import ResetPolicy
from r2etl_core.io.modelfile import ModelMeta, load_model
from r2etl_core.protocols import Source
from r2etl_core.stream.slicing import FrameSpec, SliceByCount, SliceByTime
from r2etl_core.types import EngineOutput

from r2etl_core.io.recording_tap import RecordingTap
from app.tasks import BackgroundTasks

DENOISE_US = 2000  # background-activity filter window when "filter noise" is on

SourceOpener = Callable[[str, "float | None", bool], Source]
# Outputs kept between display ticks: ~15 s of 30 ms slices, and a bound on memory if the GUI
# stalls (each output holds a full sensor frame: 3.7 MB at 1280x720).
VIEWER_ENGINE = EngineConfig(history=512)


def open_with_core(spec: str, speed: float | None, loop: bool) -> Source:
    """Open a path, ``camera[:SERIAL]`` or ``HOST:PORT`` with r2etl_core's sources."""
    from r2etl_core.stream.sources import open_source

    return open_source(spec, speed=speed, loop=loop)


def read_segments(spec: str) -> list:
    """Labelled segments of a recording's ``<name>.labels.csv`` sidecar (empty without one)."""
    from r2etl_core.io.labels import labels_path_for, read_labels

    sidecar = labels_path_for(spec)
    return list(read_labels(sidecar)) if sidecar else []


@dataclass(frozen=True)
class OpenedInput:
    spec: str
    source: Source
    segments: tuple = ()
    warning: str = ""  # e.g. an unreadable labels sidecar: the input still plays


@dataclass(frozen=True)
class LoadedModel:
    path: Path
    model: object
    meta: ModelMeta
    engine: StreamEngine | None = None  # built off the GUI thread (CUDA start-up takes seconds)


class Session(QObject):
    sourceChanged = Signal(object)  # SourceInfo or None
    modelChanged = Signal(object)  # ModelMeta
    errorRaised = Signal(str, bool)  # one-line message, show as a dialog (GUI action) or not
    statusMessage = Signal(str)
    recordingChanged = Signal(str)  # path being written, "" when not recording

    def __init__(self, opener: SourceOpener = open_with_core,
                 segment_reader: Callable[[str], list] = read_segments,
                 engine_config: EngineConfig = VIEWER_ENGINE, parent: QObject | None = None):
        super().__init__(parent)
        self.opener = opener
        self.segment_reader = segment_reader
        self.engine_config = engine_config
        self.tasks = BackgroundTasks(self)
        self.engine: StreamEngine | None = None
        self.model_path: Path | None = None
        self.meta: ModelMeta | None = None
        self.source: Source | None = None
        self.spec: str | None = None
        self.segments: tuple = ()
        self.speed: float | None = 1.0  # None: as fast as the model goes
        self.loop = False
        self.paused = False
        self.slicing: SliceByTime | SliceByCount | None = None
        self.reset_policy = ResetPolicy()
        self.denoise = False
        self.user_roi: FrameSpec | None = None
        self.recording: RecordingTap | None = None
        self.recorder_factory = RecordingTap.open  # (path, width, height, camera) -> RecordingTap
        self._last_error: str | None = None
        self._ended = False
        self.closed = False  # after close(), late results of background tasks are discarded

    # -- opening things ----------------------------------------------------------------------
    def open_input(self, spec: str) -> OpenedInput:
        """Blocking: open ``spec`` and read its labels (a worker thread or the CLI calls this)."""
        source = self.opener(spec, self.speed, self.loop)
        try:
            # a labels sidecar, or the ground truth an N-MNIST folder source carries itself
            segments = tuple(self.segment_reader(spec)) or tuple(getattr(source, "segments", ()))
            return OpenedInput(spec, source, segments)
        except R2ETLError as exc:
            return OpenedInput(spec, source, (), f"labels ignored: {exc}")
        except BaseException:
            source.close()
            raise

    def open_input_async(self, spec: str, what: str) -> None:
        self.statusMessage.emit(f"opening {what} ...")
        self.tasks.run(lambda: self.open_input(spec), self.start_input,
                       lambda msg: self.errorRaised.emit(msg, True), name="r2etl-open-input")

    def load_model_async(self, path: str | Path) -> None:
        path = Path(path)
        self.statusMessage.emit(f"loading model {path.name} ...")
        self.tasks.run(lambda: self.prepare_model(path), self.install_model,
                       lambda msg: self._model_failed(path, msg), name="r2etl-load-model")

    def prepare_model(self, path: Path) -> LoadedModel:
        """Blocking: load a model and build its engine (moves the weights to the device)."""
        model, meta = load_model(path)
        return LoadedModel(path, model, meta, StreamEngine(model, meta, self.engine_config))

    def _model_failed(self, path: Path, msg: str) -> None:
        keep = f" (still running {self.model_path.name})" if self.model_path else ""
        self.errorRaised.emit(f"{msg}{keep}", True)

    # -- installing what was opened (GUI thread) ---------------------------------------------
    def install_model(self, loaded: LoadedModel) -> None:
        """Replace the engine with one running ``loaded``; re-open the input for it."""
        if self.closed:
            return
        position = self.position_us()
        spec = self.spec  # the input playing, or one chosen before any model was loaded
        self._drop_engine()
        self.model_path, self.meta = loaded.path, loaded.meta
        self.slicing = SliceByTime(loaded.meta.slicing.slice_us) if loaded.meta.slicing.mode == "time" \
            else SliceByCount(loaded.meta.slicing.events_per_slice)
        self.engine = loaded.engine or StreamEngine(loaded.model, loaded.meta, self.engine_config)
        self.reset_policy = ResetPolicy(self.reset_policy.kind, self.reset_policy.silence_us,
                                        loaded.meta.config.time_steps)
        self.modelChanged.emit(loaded.meta)
        self.statusMessage.emit(f"model {loaded.path.name}: {len(loaded.meta.class_names)} classes, "
                                f"{loaded.meta.config.input_size}px input")
        if spec is not None:
            self.source = None
            self.tasks.run(lambda: self._reopen(spec, position), self.start_input,
                           lambda msg: self.errorRaised.emit(msg, True), name="r2etl-reopen")

    def _reopen(self, spec: str, position: int | None) -> OpenedInput:
        opened = self.open_input(spec)
        if position is not None and getattr(opened.source.info, "seekable", False):
            opened.source.seek(position)
        return opened

    def start_input(self, opened: OpenedInput) -> None:
        """Stream ``opened`` through the engine (stops and closes the previous input)."""
        if self.closed:  # the window closed while this input was being opened
            opened.source.close()
            return
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
            self.user_roi = None  # another sensor: start from the centred square again
        self.spec, self.source, self.segments = opened.spec, opened.source, opened.segments
        self.paused = False
        self._last_error = None
        self._ended = False
        eng = self.engine
        if self.slicing is not None:
            eng.set_slicing(self.slicing)
        eng.set_reset_policy(self.reset_policy)
        eng.set_event_filter(noise_filter_factory(DENOISE_US) if self.denoise else None)
        eng.set_roi(self.user_roi)
        eng.start(opened.source)
        self.sourceChanged.emit(opened.source.info)
        info = opened.source.info
        self.statusMessage.emit(opened.warning or self._labels_warning() or
                                f"playing {info.kind} {info.name} ({info.width}x{info.height})")

    def _labels_warning(self) -> str:
        if not self.segments or self.meta is None:
            return ""
        unknown = sorted({str(seg.label) for seg in self.segments} - set(self.meta.class_names))
        if not unknown:
            return ""
        return (f"the recording's labels {unknown[:5]} are not classes of {self.model_path.name} "
                f"(wrong model for this recording?)")

    def _drop_engine(self) -> None:
        if self.engine is None:
            return
        if self.recording is not None:
            self.stop_recording("model changed")
        self.engine.stop()
        self.engine = None

    # -- controls ----------------------------------------------------------------------------
    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        if self.source is not None and hasattr(self.source, "pause"):
            (self.source.pause if paused else self.source.resume)()

    def set_speed(self, speed: float | None) -> None:
        self.speed = speed
        if self.source is not None and hasattr(self.source, "set_speed"):
            self.source.set_speed(speed)

    def set_loop(self, loop: bool) -> None:
        self.loop = loop
        if self.source is not None and hasattr(self.source, "set_loop"):
            self.source.set_loop(loop)

    def seek(self, t_us: int) -> None:
        """Jump to ``t_us`` after the recording start; a file that already ended is re-opened."""
        if self.source is None or not getattr(self.source.info, "seekable", False):
            return
        if self.engine is not None and not self.engine.stats().running and self.spec:
            spec = self.spec
            self.tasks.run(lambda: self._reopen(spec, t_us), self.start_input,
                           lambda msg: self.errorRaised.emit(msg, True), name="r2etl-reopen")
            return
        self.source.seek(t_us)
        if self.engine is not None:
            # a fresh slicer: the old partial window belongs to another part of the recording
            self.engine.discontinuity()

    def position_us(self) -> int | None:
        return getattr(self.source, "position_us", None) if self.source is not None else None

    def set_slice_ms(self, ms: float) -> None:
        self.slicing = SliceByTime(max(1, int(round(ms * 1000))))
        if self.engine is not None:
            self.engine.set_slicing(self.slicing)

    def set_reset_policy(self, policy: ResetPolicy) -> None:
        self.reset_policy = policy
        if self.engine is not None:
            self.engine.set_reset_policy(policy)

    def set_denoise(self, on: bool) -> None:
        """Background-activity noise filter in front of the slicer (off by default)."""
        self.denoise = on
        if self.engine is not None:
            self.engine.set_event_filter(noise_filter_factory(DENOISE_US) if on else None)

    def reset_state(self) -> None:
        if self.engine is not None:
            self.engine.request_reset()

    def set_roi(self, roi: FrameSpec | None) -> None:
        self.user_roi = roi
        if self.engine is not None:
            self.engine.set_roi(roi)

    # -- recording ---------------------------------------------------------------------------
    def start_recording(self, path: str | Path) -> None:
        if self.engine is None or self.source is None or not self.engine.stats().running:
            self.errorRaised.emit("nothing to record: open a camera or a network stream first", True)
            return
        info = self.source.info
        try:
            tap = self.recorder_factory(Path(path), info.width, info.height, info.camera or info.name)
        except Exception as exc:
            from app.tasks import user_message

            self.errorRaised.emit(f"cannot record to {path}: {user_message(exc)}", True)
            return
        self.recording = tap
        self.engine.add_event_tap(tap.write_events)
        self.engine.add_sink(tap)
        self.recordingChanged.emit(str(tap.path))
        self.statusMessage.emit(f"recording to {tap.path}")

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
            failure = self.recording.failure
            self.stop_recording()
            self.errorRaised.emit(f"recording stopped: {failure}", True)
        if self.source is not None and not stats.running and not self._ended:
            self._ended = True
            if self.recording is not None:
                self.stop_recording(f"input lost: {stats.error}" if stats.error else "input ended")
            elif not stats.error:
                self.statusMessage.emit("end of input: tick Loop, drag the time slider, or open "
                                        "another input")
        return outputs, stats

    def close(self) -> None:
        """Window closing: finish the recording file first, then stop the engine."""
        self.closed = True
        self.stop_recording("viewer closed")
        if self.engine is not None:
            self.engine.close()
            self.engine = None
        self.source = None
