"""Fixtures and fakes for the viewer tests (tests/test_app_*.py): a tiny random model file and
a paced in-memory source with the file-source controls (pause, speed, loop, seek)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from r2etl_core.io.modelfile import save_model  # noqa: E402

from r2etl_core.nn.meta import ModelMeta  # noqa: E402
from r2etl_core.nn.model import ModelConfig, build_model  # noqa: E402
from r2etl_core.types import EventBatch, SourceInfo  # noqa: E402
from r2etl_core.nn.meta import SlicingSpec  # noqa: E402
from scripts.synthetic_events import moving_bar, random_events  # noqa: E402

CLASS_NAMES = tuple(str(i) for i in range(10))


def make_model_file(path: Path, slice_us: int = 10_000, classes: tuple[str, ...] = CLASS_NAMES) -> Path:
    config = ModelConfig(num_classes=len(classes), width=0.125)
    meta = ModelMeta(config, classes, SlicingSpec(slice_us=slice_us))
    return save_model(build_model(config), meta, path)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return make_model_file(tmp_path_factory.mktemp("models") / "tiny.safetensors")


@pytest.fixture(scope="session")
def other_model(tmp_path_factory) -> Path:
    """A valid model with 4 classes: switching to it must change the views."""
    return make_model_file(tmp_path_factory.mktemp("models") / "abcd.safetensors", slice_us=20_000,
                           classes=("a", "b", "c", "d"))


def demo_events(width: int = 64, height: int = 48, seconds: float = 2.0) -> EventBatch:
    """A bar sweeping the sensor again and again, plus background noise."""
    parts = [moving_bar(width, height, 200_000, 60, t0_us=k * 200_000, seed=k)
             for k in range(int(seconds * 5))]
    bar = EventBatch.concat(parts, width, height)
    noise = random_events(len(bar) // 10, width, height, int(seconds * 1e6), seed=99)
    both = EventBatch.concat([bar, noise], width, height)
    return both.select(np.argsort(both.t, kind="stable"))


class PacedSource:
    """In-memory stand-in for r2etl_core.stream.sources.FileSource: paced by event time, with
    pause/resume, set_speed, set_loop, seek and position_us (both in us after the start)."""

    def __init__(self, events: EventBatch, name: str = "memory", speed: float | None = 1.0,
                 loop: bool = True, chunk_us: int = 5_000):
        self.events = events
        self.info = SourceInfo("file", name, events.width, events.height, "synthetic",
                               events.t_last_us - events.t_first_us, events.t_first_us,
                               len(events), seekable=True)
        self.speed, self.loop, self.chunk_us = speed, loop, chunk_us
        self.paused = False
        self.closed = False
        self.position_us = 0
        self.seeks: list[int] = []
        self._wake = threading.Event()
        self._period = events.t_last_us - events.t_first_us + 1
        self._pass = 0  # like FileSource: a loop continues with timestamps shifted by periods
        self._jumped = False

    playback = property(lambda self: self)  # a replay offers its own Playback controls
    segments: tuple = ()
    end_reason = None
    camera_frames = staticmethod(lambda: None)  # no camera frames in memory

    def recording_time_us(self, stream_t_us: int) -> int:
        t0 = self.events.t_first_us
        return t0 + (stream_t_us - t0) % self._period

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        self._wake.set()

    def set_speed(self, speed: float | None) -> None:
        self.speed = speed

    def set_loop(self, loop: bool) -> None:
        self.loop = loop

    def seek(self, t_us: int) -> None:
        self.seeks.append(t_us)
        self.position_us = t_us
        self._jumped = True  # the next item of batches() says so, in band (protocols.SEEK)

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    def batches(self):
        t_end = self.events.t_last_us
        while not self.closed:
            while self.paused and not self.closed:
                self._wake.wait(0.05)
                self._wake.clear()
            if self._jumped:
                from r2etl_core.protocols import SEEK

                self._jumped = False
                self._pass += 1  # like FileSource: later than anything emitted before the jump
                yield SEEK
            lo = self.events.t_first_us + self.position_us
            hi = lo + self.chunk_us
            i, j = np.searchsorted(self.events.t, [lo, hi])
            if self.speed:
                time.sleep(self.chunk_us / 1e6 / self.speed)
            if self.closed:
                return
            if self._jumped:  # a seek while this chunk was waiting: it is from the old position
                continue
            self.position_us = hi - self.events.t_first_us
            chunk = self.events.select(slice(i, j))
            shift = self._pass * self._period
            yield EventBatch(chunk.t + shift, chunk.x, chunk.y, chunk.p, chunk.width, chunk.height)
            if hi > t_end:
                if not self.loop:
                    return
                self.position_us, self._pass = 0, self._pass + 1


class MemoryOpener:
    """``Session`` opener: every spec opens a fresh PacedSource over the same events."""

    def __init__(self, events: EventBatch | None = None, fail: dict[str, Exception] | None = None):
        self.events = events if events is not None else demo_events()
        self.fail = fail or {}
        self.opened: list[PacedSource] = []

    def __call__(self, spec: str, speed: float | None, loop: bool) -> PacedSource:
        if spec in self.fail:
            raise self.fail[spec]
        source = PacedSource(self.events, spec, speed, loop)
        self.opened.append(source)
        return source


class FailingSource(PacedSource):
    """Streams a little, then fails like an unplugged camera."""

    playback = None  # a camera has no timeline controls

    def __init__(self, events: EventBatch, name: str = "camera:TEST", after_batches: int = 20):
        super().__init__(events, name, speed=1.0, loop=True)
        self.info = SourceInfo("camera", name, events.width, events.height, "fake DVXplorer")
        self.after_batches = after_batches

    def batches(self):
        from r2etl_core.errors import InputError

        for n, batch in enumerate(super().batches()):
            if n >= self.after_batches:
                raise InputError(self.info.name, "camera disconnected (no data for 1 s)")
            yield batch


def start_viewer(qtbot, model_path: Path, opener=None, spec: str = "demo", segments=()):
    """A shown MainWindow streaming ``spec`` through ``opener`` with ``model_path``."""
    from app.session import Session
    from app.window import MainWindow
    from r2etl_core.io.modelfile import load_model
    from r2etl_core.stream.pipeline import LoadedModel

    opener = opener or MemoryOpener()
    session = Session(opener=opener, segment_reader=lambda _spec: list(segments))
    session.loop = True
    window = MainWindow(session)
    qtbot.addWidget(window)
    session.install_model(LoadedModel(model_path, *load_model(model_path)))
    session.start_input(session.open_input(spec))
    window.show()
    return window, session, opener


def newest_index(window) -> int:
    history = window.prediction_view.history
    return history[-1].index if history else 0


def wait_for_predictions(qtbot, window, n: int = 3, timeout: int = 20_000) -> None:
    """Until ``n`` more predictions reached the views (engine indices, not wall time)."""
    start = newest_index(window)
    qtbot.waitUntil(lambda: newest_index(window) >= start + n, timeout=timeout)
