"""The engine under control storms: random seeks, slicing, ROI, policy and readout changes,
stop and start, driven from the main thread as a GUI would. No exception, no deadlock,
``stop()`` returns, and seeks travel in band: no slice from before a seek is classified after
a slice from after it, no slice mixes the two, and the network starts from rest at the jump."""

import random
from dataclasses import replace
import threading
import time

import numpy as np
import pytest

from r2etl_core.io.modelfile import load_model
from r2etl_core.protocols import SEEK
from r2etl_core.stream.engine import StreamEngine
from r2etl_core.stream.settings import EngineConfig
from r2etl_core.stream.settings import StreamSettings
from r2etl_core.types import EventBatch, FrameSpec, Readout, ResetPolicy, SliceByTime, SourceInfo

EPOCH_US = 10**9  # every seek jumps the stream clock to a new epoch: stale events are recognisable


class SeekableStream:
    """A Source with Playback over endless synthetic events, 1 ms per batch. A seek moves the
    clock to the next epoch, so every event emitted after it is later than every one before."""

    segments: tuple = ()
    end_reason = None

    def __init__(self, width: int = 64, height: int = 48):
        self.info = SourceInfo("file", "stress", width, height, "synthetic", 10**9, 0, None, seekable=True)
        self.playback = self
        self.paused, self.speed, self.loop, self.position_us = False, 4.0, True, 0
        self._lock = threading.Lock()
        self._epoch, self._t, self._closed, self._jumped = 0, 0, False, False
        self._rng = np.random.default_rng(0)

    def seek(self, t_us: int) -> None:
        with self._lock:
            self._epoch += 1
            self._t = self._epoch * EPOCH_US + int(t_us)
            self._jumped = True

    def pause(self): self.paused = True
    def resume(self): self.paused = False
    def set_speed(self, speed): self.speed = speed
    def set_loop(self, loop): self.loop = loop
    def recording_time_us(self, t): return t
    def close(self): self._closed = True

    def batches(self):
        while not self._closed:
            time.sleep(0.00025)
            with self._lock:
                jumped, self._jumped = self._jumped, False
                t0, self._t = self._t, self._t + 1000
            if jumped:
                yield SEEK
            n = 40
            t = np.sort(self._rng.integers(t0, t0 + 1000, n)).astype(np.int64)
            yield EventBatch(t, self._rng.integers(0, self.info.width, n).astype(np.int16),
                             self._rng.integers(0, self.info.height, n).astype(np.int16),
                             self._rng.integers(0, 2, n).astype(np.int8), self.info.width, self.info.height)


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    from app_fixtures import make_model_file

    return load_model(make_model_file(tmp_path_factory.mktemp("stress") / "m.safetensors", slice_us=5_000))


def test_engine_survives_a_control_storm(small_model):
    model, meta = small_model
    engine = StreamEngine(model, meta, EngineConfig(queue_slices=4))
    rng = random.Random(7)
    source = SeekableStream()
    engine.start(source)
    settings = StreamSettings()
    last_epoch = 0  # of the last output taken since the last (re)start
    problems, seen, ops, seeks = [], 0, 0, 0
    deadline = time.monotonic() + 60
    while ops < 300 and time.monotonic() < deadline:
        op = rng.choice(["seek", "seek", "slice", "roi", "policy", "readout", "reset", "restart", "wait"])
        if op == "seek":
            source.seek(rng.randrange(0, 10**6))
            seeks += 1
        elif op == "slice":
            settings = replace(settings, slicing=SliceByTime(rng.choice([1_000, 2_000, 5_000, 10_000])))
        elif op == "roi":
            size = rng.randrange(4, 48)
            settings = replace(settings, roi=rng.choice(
                [None, FrameSpec(rng.randrange(0, 16), rng.randrange(0, 8), size, 16)]))
        elif op == "policy":
            settings = replace(settings, reset=ResetPolicy(rng.choice(["silence", "window", "manual"]),
                                                           window_slices=3))
        elif op == "readout":
            settings = replace(settings, readout=rng.choice([Readout(), Readout("staggered", copies=3),
                                                             Readout("window")]))
        elif op == "reset":
            engine.request_reset()
        elif op == "restart":
            t0 = time.monotonic()
            engine.stop()
            assert time.monotonic() - t0 < 5, "stop() did not return"
            engine.take_outputs()
            source = SeekableStream()
            engine.start(source)
            last_epoch = 0
        engine.configure(settings)
        time.sleep(rng.choice([0, 0.002, 0.01]))
        for out in engine.take_outputs():
            seen += 1
            p = out.prediction
            epoch = p.t_start_us // EPOCH_US
            if epoch < last_epoch or (p.t_end_us - 1) // EPOCH_US != epoch:
                problems.append(("from before a seek, or across one", p.t_start_us, p.t_end_us, last_epoch))
            elif epoch > last_epoch and not p.reset_before:
                problems.append(("state carried across a seek", p.t_start_us))
            last_epoch = max(last_epoch, epoch)
        ops += 1
    stats = engine.stats()
    t0 = time.monotonic()
    engine.close()
    assert time.monotonic() - t0 < 5
    assert ops == 300, "the storm did not finish in time (deadlock?)"
    assert stats.error is None, stats.error
    assert seen > 20 and seeks > 20  # the engine kept classifying through it
    assert problems == []
