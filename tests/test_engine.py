import time

import numpy as np
import pytest
import torch
from conftest import PROJECT_RECORDINGS

from r2etl_core.errors import InputError
from r2etl_core.nn.meta import ModelMeta
from r2etl_core.nn.model import ModelConfig, build_model
from r2etl_core.stream.engine import StreamEngine
from r2etl_core.stream.settings import EngineConfig, StreamSettings
from r2etl_core.stream.slicing import StreamSlicer, bin_events_numpy
from r2etl_core.types import EventBatch, FrameSpec, Readout, ResetPolicy, SliceByTime
from r2etl_core.nn.meta import SlicingSpec
from scripts.synthetic_events import ArraySource, random_events

CLASSES = tuple(str(i) for i in range(10))


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    model = build_model(ModelConfig(width=0.125, input_size=34, time_steps=10))
    # make the network fire: scale up the stem so random frames produce spikes deep inside
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.mul_(3.0)
    model.eval()
    return model, ModelMeta(model.config, CLASSES, SlicingSpec(slice_us=10_000))


def run(engine, source, timeout=60):
    engine.start(source)
    assert engine.wait(timeout) and engine.stats().finished, engine.stats().error
    return engine.take_outputs()


def test_streaming_equals_multistep_over_each_window(net):
    model, meta = net
    events = random_events(6000, duration_us=200_000, seed=5)
    engine = StreamEngine(model, meta, EngineConfig(drop_when_busy=False),
                          settings=StreamSettings(reset=ResetPolicy("window", window_slices=10)))
    outs = run(engine, ArraySource(events, chunk=500))
    assert len(outs) == 20
    slicer = StreamSlicer(SliceByTime(10_000))
    slices = slicer.push(events) + slicer.flush()
    frames = torch.from_numpy(np.stack([bin_events_numpy(s.events, FrameSpec(0, 0, 34, 34)) for s in slices]))
    model.set_step_mode("m")
    try:
        for w in range(2):
            model.reset_state()
            with torch.no_grad():
                logits = model(frames[w * 10:(w + 1) * 10].unsqueeze(1))[:, 0]
            cum = torch.cumsum(logits, 0) / torch.arange(1, 11).unsqueeze(1)
            expected = torch.softmax(cum, 1).numpy()
            got = np.array([o.prediction.probabilities for o in outs[w * 10:(w + 1) * 10]])
            np.testing.assert_allclose(got, expected, atol=1e-5)
    finally:
        model.set_step_mode("s")
    assert [o.prediction.step_in_window for o in outs[:11]] == list(range(1, 11)) + [1]
    assert outs[0].spikes.spike_counts[0] > 0  # stem spikes are reported


def test_drop_oldest_when_model_is_slow_and_source_never_waits(net):
    model, meta = net
    events = random_events(4000, duration_us=400_000, seed=1)
    engine = StreamEngine(model, meta, EngineConfig(drop_when_busy=True, queue_slices=2))
    real_step = engine.core.step

    def slow_step(*a, **k):
        time.sleep(0.02)
        return real_step(*a, **k)

    engine.core.step = slow_step
    outs = run(engine, ArraySource(events, chunk=100))
    st = engine.stats()
    assert st.dropped > 0
    assert len(outs) + st.dropped == 40
    idx = [o.prediction.t_start_us for o in outs]
    assert idx == sorted(idx)
    assert outs[-1].prediction.t_start_us == 390_000  # the newest slice always survives


def test_silence_policy_resets_after_a_gap(net):
    model, meta = net
    a = random_events(500, duration_us=50_000, seed=2)
    b = random_events(500, duration_us=50_000, t0_us=200_000, seed=3)
    events = EventBatch.concat([a, b], 34, 34)
    engine = StreamEngine(model, meta, EngineConfig(drop_when_busy=False),
                          settings=StreamSettings(reset=ResetPolicy("silence", silence_us=40_000)))
    outs = run(engine, ArraySource(events))
    resets = [o.prediction.t_start_us for o in outs if o.prediction.reset_before]
    assert resets == [0, 200_000]


def test_manual_policy_never_resets_by_itself(net):
    model, meta = net
    a = random_events(500, duration_us=50_000, seed=2)
    b = random_events(500, duration_us=50_000, t0_us=200_000, seed=3)
    engine = StreamEngine(model, meta, EngineConfig(drop_when_busy=False),
                          settings=StreamSettings(reset=ResetPolicy("manual")))
    outs = run(engine, ArraySource(EventBatch.concat([a, b], 34, 34)))
    assert [o.prediction.reset_before for o in outs].count(True) == 1  # only at stream start


def test_roi_and_sensor_size(net):
    model, meta = net
    events = random_events(3000, width=346, height=260, duration_us=50_000, seed=4)
    engine = StreamEngine(model, meta, EngineConfig(drop_when_busy=False))
    engine.configure(StreamSettings(roi=FrameSpec(10, 20, 100, 34)))
    outs = run(engine, ArraySource(events))
    assert engine.roi == FrameSpec(10, 20, 100, 34)
    sl = StreamSlicer(SliceByTime(10_000))
    first = (sl.push(events) + sl.flush())[0]
    expected = bin_events_numpy(first.events, FrameSpec(10, 20, 100, 34))
    np.testing.assert_allclose(outs[0].model_frame, expected, rtol=1e-6)
    assert outs[0].sensor_frame.shape == (2, 260, 346)
    # a smaller sensor clamps the ROI inside it
    run(engine, ArraySource(random_events(100, seed=1)))
    assert engine.roi.roi_size == 34 and engine.roi.roi_x == 0


def test_source_error_is_reported_not_raised(net):
    model, meta = net

    class Broken(ArraySource):
        def batches(self):
            yield from list(super().batches())[:1]
            raise InputError("cam0", "camera disconnected")

    engine = StreamEngine(model, meta, EngineConfig(drop_when_busy=False))
    engine.start(Broken(random_events(100, seed=1)))
    engine.wait(30)
    assert engine.stats().error == "cam0: camera disconnected"
    assert not engine.stats().finished


def test_sinks_see_every_prediction(net):
    model, meta = net
    seen = []

    class Sink:
        closed = False

        def on_prediction(self, prediction, spikes):
            seen.append(prediction.index)

        def close(self):
            Sink.closed = True

    engine = StreamEngine(model, meta, EngineConfig(drop_when_busy=False))
    engine.add_sink(Sink())
    outs = run(engine, ArraySource(random_events(1000, duration_us=100_000, seed=1)))
    engine.close()
    assert seen == [o.prediction.index for o in outs] and Sink.closed


def test_event_filter_sees_events_before_slicing_and_taps_see_raw(net, monkeypatch):
    model, meta = net
    events = random_events(2000, duration_us=100_000, seed=6)
    engine = StreamEngine(model, meta, EngineConfig(drop_when_busy=False))
    sizes, raw = [], []
    engine.add_event_tap(lambda b: raw.append(len(b)))

    def factory(width, height):
        sizes.append((width, height))
        return lambda batch: batch.select(batch.p == 1)  # keep ON events only

    import r2etl_core.stream.slicing as slicing_module

    monkeypatch.setattr(slicing_module, "noise_filter_factory", lambda us: factory if us else None)
    engine.configure(StreamSettings(denoise_us=2000))
    outs = run(engine, ArraySource(events))
    assert sizes == [(34, 34)]
    assert sum(raw) == 2000
    assert sum(o.prediction.event_count for o in outs) == int((events.p == 1).sum())
    assert all(o.model_frame[1].sum() == 0 for o in outs)  # no OFF events reached the model


@pytest.mark.parametrize("readout,policy", [
    (Readout(), ResetPolicy()),
    (Readout("staggered", copies=3), ResetPolicy("window", window_slices=7)),
    (Readout("since-reset"), ResetPolicy("silence", silence_us=5_000)),
])
def test_multi_step_runs_equal_single_steps(readout, policy):
    """Queued slices stepped as one multi-step forward (state carried across runs, split at
    resets and staggered restarts) give the same outputs as one step at a time."""
    from dataclasses import replace

    from r2etl_core.io.modelfile import DEFAULT_MODEL_PATH, load_model
    from r2etl_core.stream.settings import OFFLINE
    from r2etl_core.stream.sources import open_source

    def run(max_run: int):
        model, meta = load_model(DEFAULT_MODEL_PATH)
        engine = StreamEngine(model, meta, replace(OFFLINE, max_run=max_run),
                              settings=StreamSettings(reset=policy, readout=readout))
        engine.start(open_source(str(PROJECT_RECORDINGS / "nmnist-demo-gapped.aedat4"), speed=None))
        assert engine.wait(120)
        return [o.prediction for o in engine.take_outputs()], engine.stats()

    single, _ = run(1)
    multi, stats = run(32)
    assert len(single) == len(multi) == stats.slices_done > 300
    assert [p.reset_before for p in single] == [p.reset_before for p in multi]
    assert [p.step_in_window for p in single] == [p.step_in_window for p in multi]
    assert [p.label for p in single] == [p.label for p in multi]
    np.testing.assert_allclose([p.probabilities for p in single], [p.probabilities for p in multi], atol=1e-5)
