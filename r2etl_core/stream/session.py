"""A live session without Qt: one input, one model, one engine, an optional recorder.

``LiveSession`` owns the ``StreamEngine`` and everything the controls change (speed, loop,
pause, stream settings, recording) and the input's life: opening and re-opening, seeking,
swapping the model (a new engine; the input re-opened at the same position for files),
the end of the input, one report per error. It tells its front end what happened through a
``SessionListener``; the viewer's ``app.session.Session`` turns those calls into Qt signals
and delivers background results on the GUI thread. Headless drivers (``r2etl classify``,
the soak and latency benchmarks) use the blocking calls and ``wait()``:

    session = LiveSession(engine_config=OFFLINE, speed=None)
    session.load_model(path)
    session.start_input(session.open_input(spec))
    session.wait()
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from r2etl_core.io.recorder import Recorder
from r2etl_core.protocols import Playback, Source
from r2etl_core.stream.engine import StreamEngine
from r2etl_core.stream.pipeline import (LoadedModel, OpenedInput, SourceOpener, build_engine, labels_problem,
                                        load_model_file, open_input, open_with_core, read_sidecar)
from r2etl_core.stream.recording import start_recording, stop_recording
from r2etl_core.stream.settings import EngineConfig, StreamSettings
from r2etl_core.stream.tasks import Deliver, Tasks, deliver_here
from r2etl_core.types import EngineOutput, EngineStats


class SessionListener:
    """What a session tells its front end (each call on the session's owner thread)."""

    def source_changed(self, info) -> None:  # SourceInfo or None
        pass

    def model_changed(self, meta) -> None:
        pass

    def error(self, message: str, dialog: bool) -> None:  # dialog: the answer to a user's action
        pass

    def status(self, message: str) -> None:
        pass

    def recording_changed(self, path: str) -> None:  # "" when not recording
        pass


@dataclass(frozen=True)
class PreparedModel:
    """A model loaded off the owner thread with its engine (CUDA start-up takes seconds)."""

    loaded: LoadedModel
    engine: StreamEngine | None = None


class LiveSession:
    def __init__(self, listener: SessionListener | None = None, opener: SourceOpener = open_with_core,
                 segment_reader: Callable[[str], list] = read_sidecar,
                 engine_config: EngineConfig = EngineConfig(), deliver: Deliver = deliver_here,
                 speed: float | None = 1.0, loop: bool = False, strict_labels: bool = False):
        self.listener = listener or SessionListener()
        self.opener, self.segment_reader = opener, segment_reader
        self.engine_config = engine_config
        self.tasks = Tasks(deliver)
        self._lock = threading.RLock()  # headless, background results arrive on worker threads
        self.engine: StreamEngine | None = None
        self.model: LoadedModel | None = None
        self.source: Source | None = None
        self.spec: str | None = None
        self.segments: tuple = ()
        self.speed, self.loop = speed, loop  # speed None: as fast as the model goes
        self.paused = False
        self.strict_labels = strict_labels
        self.settings = StreamSettings()
        self.recording: Recorder | None = None
        self.recorder_factory = Recorder  # (path, width, height, camera) -> Recorder
        self._wanted_spec: str | None = None  # the input asked for last (it may still be opening)
        self._last_error: str | None = None
        self._ended = False
        self._await_jump = False  # a seek was asked for; its mark has not come back yet
        self.closed = False  # after close(), late results of background tasks are discarded

    # -- opening things (blocking: a worker thread or a headless driver calls these) -------------
    def open_input(self, spec: str) -> OpenedInput:
        return open_input(spec, self.speed, self.loop, strict_labels=self.strict_labels, opener=self.opener,
                          segment_reader=self.segment_reader)

    def prepare_model(self, path: str | Path | None) -> PreparedModel:
        """Load a model and build its engine (moves the weights to the device)."""
        loaded = load_model_file(path)
        return PreparedModel(loaded, build_engine(loaded, self.engine_config))

    def load_model(self, path: str | Path | None = None) -> None:
        self.install_model(self.prepare_model(path))

    # -- the same, in the background ------------------------------------------------------------
    def open_input_async(self, spec: str, what: str) -> None:
        self.listener.status(f"opening {what} ...")
        self._wanted_spec = spec
        self._run_open(lambda: self.open_input(spec), "r2etl-open-input")

    def load_model_async(self, path: str | Path) -> None:
        path = Path(path)
        self.listener.status(f"loading model {path.name} ...")
        self.tasks.run(lambda: self.prepare_model(path), self.install_model,
                       lambda msg: self._model_failed(msg), name="r2etl-load-model", key="model")

    def _run_open(self, work, name: str) -> None:
        """Only the newest open wins (a slower, older one closes what it opened)."""
        self.tasks.run(work, self.start_input, self._open_failed, name=name, key="input",
                       discard=lambda opened: opened.source.close())

    def _open_failed(self, message: str) -> None:
        self._wanted_spec = self.spec  # keep playing (and re-open on a model change) what plays
        self.listener.error(message, True)

    def _model_failed(self, msg: str) -> None:
        keep = f" (still running {self.model_path.name})" if self.model_path else ""
        self.listener.error(f"{msg}{keep}", True)

    # -- installing what was opened -------------------------------------------------------------
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
        with self._lock:
            if self.closed:
                return
            if isinstance(prepared, LoadedModel):
                prepared = PreparedModel(prepared)
            if self._swap_live(prepared):
                return
            position = self.position_us()
            # the input the user asked for last: playing, still opening, or chosen before any model
            spec = self._wanted_spec or self.spec
            if spec != self.spec:
                position = None
            self._drop_engine()
            loaded = self.model = prepared.loaded
            self.settings = replace(self.settings, slicing=None)  # the new model's own slicing
            self.engine = prepared.engine or build_engine(loaded, self.engine_config)
            self.engine.configure(self.settings)
            self.listener.model_changed(loaded.meta)
            self.listener.status(f"model {loaded.path.name}: {len(loaded.meta.class_names)} classes, "
                                 f"{loaded.meta.config.input_size}px input")
            if spec is not None:
                self.source = None
                self._run_open(lambda: self._reopen(spec, position), "r2etl-reopen")

    def _swap_live(self, prepared: PreparedModel) -> bool:
        """A live input (camera, network) keeps streaming, and a recording keeps recording: the
        running engine adopts the new model in band. False when the input must be re-opened."""
        engine = self.engine
        if (prepared.engine is None or engine is None or self.source is None or self.playback is not None
                or self._wanted_spec not in (None, self.spec) or not engine.stats().running):
            return False
        loaded = self.model = prepared.loaded
        engine.adopt(prepared.engine)
        self.update(slicing=None)  # the new model's own slicing
        self._await_jump = True  # outputs of the old model still in flight are not shown
        self.listener.model_changed(loaded.meta)
        self.listener.status(f"model {loaded.path.name}: {len(loaded.meta.class_names)} classes, "
                             f"{loaded.meta.config.input_size}px input (switched in while streaming)")
        return True

    def _reopen(self, spec: str, position: int | None) -> OpenedInput:
        opened = self.open_input(spec)
        if position is not None and opened.source.playback is not None:
            opened.source.playback.seek(position)
        return opened

    def start_input(self, opened: OpenedInput) -> None:
        """Stream ``opened`` through the engine (stops and closes the previous input)."""
        with self._lock:
            if self.closed:  # closed while this input was being opened
                opened.source.close()
                return
            self._wanted_spec = opened.spec
            if self.recording is not None:
                self.stop_recording("input changed")
            if self.engine is None:
                opened.source.close()
                self.spec = opened.spec
                self.listener.status(f"{opened.spec} starts once a model is loaded (Model...)")
                return
            self.engine.stop()
            before = self.source.info if self.source is not None else None
            info = opened.source.info
            if before is None or (before.width, before.height) != (info.width, info.height):
                self.update(roi=None)  # another sensor: centred square again
            self.spec, self.source, self.segments = opened.spec, opened.source, opened.segments
            self.paused = self._ended = self._await_jump = False
            self._last_error = None
            self.engine.start(opened.source)
            self.listener.source_changed(info)
            self.listener.status(opened.warning or self._labels_warning() or
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

    # -- controls -------------------------------------------------------------------------------
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
        """Jump to ``t_us`` after the recording start (the engine learns of it in band, from
        the source); a file that already ended is re-opened there."""
        if self.playback is None:
            return
        if self.engine is not None and not self.engine.stats().running and self.spec:
            spec = self.spec
            self._run_open(lambda: self._reopen(spec, t_us), "r2etl-reopen")
            return
        self.playback.seek(t_us)
        self._await_jump = True  # outputs still coming from before the jump are not shown

    def live_camera_frames(self):
        """A live DAVIS camera's newest frames (None for files: the window reads those itself)."""
        if self.source is None or self.playback is not None:
            return None
        return self.source.camera_frames()

    def position_us(self) -> int | None:
        return self.playback.position_us if self.playback is not None else None

    def configure(self, settings: StreamSettings) -> None:
        """New stream settings: one value, handed to the engine through its one door."""
        self.settings = settings
        if self.engine is not None:
            self.engine.configure(settings)

    def update(self, **changes) -> None:
        """``configure`` with some fields of the current settings changed."""
        self.configure(replace(self.settings, **changes))

    def reset_state(self) -> None:
        if self.engine is not None:
            self.engine.request_reset()

    # -- recording ------------------------------------------------------------------------------
    def start_recording(self, path: str | Path) -> None:
        if self.engine is None or self.source is None or not self.engine.stats().running:
            self.listener.error("nothing to record: open a camera or a network stream first", True)
            return
        self.recording = start_recording(self.engine, self.source.info, path, self.recorder_factory, self.listener)

    def stop_recording(self, why: str = "") -> None:
        tap, self.recording = self.recording, None
        if tap is not None:
            stop_recording(self.engine, tap, why, self.listener)

    # -- reading the stream ---------------------------------------------------------------------
    def poll(self, with_stats: bool = True) -> tuple[list[EngineOutput], EngineStats | None]:
        """New outputs since the last poll and (``with_stats``) the engine's stats; never blocks.
        Stats cost percentiles under the engine's lock: a display asks a few times a second."""
        if self.engine is None:
            return [], None
        outputs = self.engine.take_outputs()
        if self._await_jump:  # after a seek: nothing until the engine's first output from the new place
            first = next((i for i, out in enumerate(outputs) if out.jumped), None)
            outputs = [] if first is None else outputs[first:]
            self._await_jump = first is None
        return outputs, (self.check() if with_stats else None)

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the engine stopped (the input ended and every slice was classified,
        it failed, or it was stopped), then report it as ``poll`` would. False on timeout."""
        if self.engine is None:
            return True
        stopped = self.engine.wait(timeout_s)
        self.check()
        return stopped

    def check(self) -> EngineStats | None:
        """The engine's stats; reports a new error, a failed recording and the input's end once."""
        if self.engine is None:
            return None
        stats = self.engine.stats()
        if stats.error and stats.error != self._last_error:
            self._last_error = stats.error
            self.listener.error(stats.error, False)
        if self.recording is not None and self.recording.failure:
            tap, failure = self.recording, self.recording.failure
            self.stop_recording()
            if getattr(tap, "finished", True):  # else stop_recording said why, and what to do
                self.listener.error(f"recording stopped: {failure}", True)
        if self.source is not None and not stats.running and not self._ended:
            self._ended = True
            self._report_end(stats)
        return stats

    def _report_end(self, stats: EngineStats) -> None:
        lost = stats.error or stats.input_lost
        if self.recording is not None:
            self.stop_recording(f"input lost: {lost}" if lost else "input ended")
        if stats.input_lost and not stats.error:
            self.listener.error(f"{stats.input_lost}: open the input again, or another one", False)
        elif not stats.error and self.recording is None:
            self.listener.status("end of input: tick Loop, drag the time slider, or open another input"
                                 if self.playback is not None else "end of input: open it again, or another input")

    def close(self) -> None:
        """Finish the recording file first, then stop the engine."""
        with self._lock:
            self.closed = True
            self.stop_recording("session closed")
            if self.engine is not None:
                self.engine.close()
                self.engine = None
            self.source = None
