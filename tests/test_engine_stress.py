"""The engine under control storms: random seeks, slicing, ROI, policy and readout changes,
stop and start, driven from the main thread as a GUI would. No exception, no deadlock,
``stop()`` returns, and no slice from before a seek is classified after it."""

import random
import threading
import time

import numpy as np
import pytest

from r2etl_core.io.modelfile import load_model
from r2etl_core.stream.engine import EngineConfig, StreamEngine
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
        self._epoch, self._t, self._closed = 0, 0, False
        self._rng = np.random.default_rng(0)

    def seek(self, t_us: int) -> int:
        """Returns the stream time from which every event is new."""
        with self._lock:
            self._epoch += 1
            self._t = self._epoch * EPOCH_US + int(t_us)
            return self._t

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
                t0, self._t = self._t, self._t + 1000
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
    fresh_from = 0  # outputs taken after the last seek must be newer than this
    stale, seen, ops = [], 0, 0
    deadline = time.monotonic() + 60
    while ops < 300 and time.monotonic() < deadline:
        op = rng.choice(["seek", "seek", "slice", "roi", "policy", "readout", "reset", "restart", "wait"])
        if op == "seek":
            fresh_from = source.seek(rng.randrange(0, 10**6))
            engine.discontinuity()
            engine.take_outputs()  # what was classified before the seek: not checked
        elif op == "slice":
            engine.set_slicing(SliceByTime(rng.choice([1_000, 2_000, 5_000, 10_000])))
        elif op == "roi":
            size = rng.randrange(4, 48)
            engine.set_roi(rng.choice([None, FrameSpec(rng.randrange(0, 16), rng.randrange(0, 8), size, 16)]))
        elif op == "policy":
            engine.set_reset_policy(ResetPolicy(rng.choice(["silence", "window", "manual"]), window_slices=3))
        elif op == "readout":
            engine.set_readout(rng.choice([Readout(), Readout("staggered", copies=3), Readout("window")]))
        elif op == "reset":
            engine.request_reset()
        elif op == "restart":
            t0 = time.monotonic()
            engine.stop()
            assert time.monotonic() - t0 < 5, "stop() did not return"
            source = SeekableStream()
            engine.start(source)
            fresh_from = 0
        time.sleep(rng.choice([0, 0.002, 0.01]))
        for out in engine.take_outputs():
            seen += 1
            if out.prediction.t_end_us <= fresh_from:
                stale.append((out.prediction.t_start_us, fresh_from))
        ops += 1
    stats = engine.stats()
    t0 = time.monotonic()
    engine.close()
    assert time.monotonic() - t0 < 5
    assert ops == 300, "the storm did not finish in time (deadlock?)"
    assert stats.error is None, stats.error
    assert seen > 20  # the engine kept classifying through it
    assert stale == []
