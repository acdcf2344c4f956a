import numpy as np
import pytest
import torch

from r2etl_core.stream.slicing import (
    StreamSlicer,
    bin_events_numpy,
    bin_slices,
    frame_index,
    sensor_frame,
    slices_index,
)
from r2etl_core.types import EventBatch, FrameSpec, SliceByCount, SliceByTime
from scripts.synthetic_events import random_events


def ev(ts, xs=None, ys=None, ps=None, w=34, h=34):
    n = len(ts)
    return EventBatch(np.array(ts, np.int64), np.array(xs or [0] * n, np.int16),
                      np.array(ys or [0] * n, np.int16), np.array(ps or [1] * n, np.int8), w, h)


def push_all(slicer, events, chunk):
    out = []
    for lo in range(0, len(events), chunk):
        out += slicer.push(events.select(slice(lo, lo + chunk)))
    return out + slicer.flush()


@pytest.mark.parametrize("chunk", [1, 7, 1000, 10**6])
def test_time_slices_cover_every_event_once_regardless_of_chunking(chunk):
    events = random_events(5000, duration_us=1_000_000, seed=3)
    slices = push_all(StreamSlicer(SliceByTime(30_000), max_empty_slices=100), events, chunk)
    assert sum(len(s.events) for s in slices) == len(events)
    for s in slices:
        assert s.t_end_us - s.t_start_us == 30_000
        assert s.t_start_us % 30_000 == 0  # grid from t = 0: same recording, same slices
        if len(s.events):
            assert s.events.t.min() >= s.t_start_us and s.events.t.max() < s.t_end_us
    starts = [s.t_start_us for s in slices]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)


def test_silent_gap_gives_bounded_empty_slices():
    events = ev([1_000, 2_000, 1_000_000 + 5])  # ~1 s of silence
    slices = push_all(StreamSlicer(SliceByTime(10_000), max_empty_slices=3), events, 1)
    empties = [s for s in slices if len(s.events) == 0]
    assert len(empties) == 3
    assert slices[-1].t_start_us == 1_000_000 and len(slices[-1].events) == 1


def test_last_partial_slice_is_flushed():
    slicer = StreamSlicer(SliceByTime(10_000))
    assert slicer.push(ev([100, 5_000])) == []
    out = slicer.flush()
    assert len(out) == 1 and len(out[0].events) == 2


def test_count_slices():
    events = random_events(1050, seed=1)
    slices = push_all(StreamSlicer(SliceByCount(100)), events, 33)
    assert [len(s.events) for s in slices] == [100] * 10 + [50]


def test_sensor_change_resets_partial_window():
    slicer = StreamSlicer(SliceByTime(10_000))
    slicer.push(ev([100, 200]))
    slicer.push(ev([300], w=346, h=260))
    out = slicer.flush()
    assert len(out) == 1 and len(out[0].events) == 1 and out[0].events.width == 346


def test_invalid_slicing_parameters():
    with pytest.raises(ValueError):
        SliceByTime(0)
    with pytest.raises(ValueError):
        SliceByCount(-5)


def test_bincount_frame_matches_a_plain_loop():
    events = random_events(3000, width=40, height=30, seed=7)
    spec = FrameSpec(roi_x=5, roi_y=2, roi_size=20, out_size=10, scale_counts=False)
    expected = np.zeros((2, 10, 10), np.float32)
    for x, y, p in zip(events.x, events.y, events.p):
        if 5 <= x < 25 and 2 <= y < 22:
            expected[0 if p == 1 else 1, (y - 2) * 10 // 20, (x - 5) * 10 // 20] += 1
    np.testing.assert_array_equal(bin_events_numpy(events, spec), expected)
    torch_frame = bin_slices(torch.from_numpy(frame_index(events, spec)), 1, spec)[0].numpy()
    np.testing.assert_array_equal(torch_frame, expected)


def test_count_scaling_keeps_density():
    events = random_events(20000, width=68, height=68, seed=2)
    spec = FrameSpec(0, 0, 68, 34, scale_counts=True)
    frame = bin_events_numpy(events, spec)
    assert frame.sum() == pytest.approx(len(events) / 4)


def test_centred_roi_and_clamp():
    spec = FrameSpec.centred(346, 260, 34)
    assert (spec.roi_x, spec.roi_y, spec.roi_size) == (43, 0, 260)
    small = spec.clamped(34, 34)
    assert (small.roi_x, small.roi_y, small.roi_size) == (0, 0, 34)


def test_sensor_frame_counts_on_and_off():
    events = ev([1, 2, 3], xs=[1, 1, 2], ys=[0, 0, 3], ps=[1, 1, 0], w=4, h=5)
    frame = sensor_frame(events)
    assert frame.shape == (2, 5, 4)
    assert frame[0, 0, 1] == 2 and frame[1, 3, 2] == 1 and frame.sum() == 3


def test_one_bincount_for_many_slices_equals_slice_by_slice():
    events = random_events(4000, width=80, height=60, duration_us=200_000, seed=9)
    slicer = StreamSlicer(SliceByTime(10_000))
    slices = slicer.push(events) + slicer.flush()
    spec = FrameSpec.centred(80, 60, 16)
    frames = bin_slices(torch.from_numpy(slices_index(slices, spec)), len(slices), spec).numpy()
    assert frames.shape == (len(slices), 2, 16, 16)
    for sl, frame in zip(slices, frames):
        np.testing.assert_allclose(frame, bin_events_numpy(sl.events, spec), rtol=1e-6)
