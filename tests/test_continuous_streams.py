"""Continuous test streams (r2etl_core.train.datasets.continuous): holds, noise, idle stretches,
no gaps, boundaries off the slice grid, determinism; and, on real data, validation samples only."""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from r2etl_core.errors import InputError
from r2etl_core.io.labels import IDLE_LABEL, UNKNOWN_LABEL, LabelSegment, read_labels
from r2etl_core.train.datasets.continuous import (
    StreamRecipe,
    build_idle_stream,
    build_stream,
    check_not_trained_on,
    held_events,
    pick_per_class,
    validation_ids,
    validation_samples,
)
from r2etl_core.train.datasets.splits import shared_nmnist_split
from r2etl_core.types import EventBatch
from scripts.synthetic_sets import class_events, write_nmnist_folder

SHARED_NMNIST = Path(__file__).parents[1].parent / "shared" / "data" / "nmnist" / "Train"
RECORDINGS = Path(__file__).parents[1] / "recordings"
PIXELS = 34 * 34


def samples(n: int = 6, duration_us: int = 200_000) -> list[tuple[EventBatch, str]]:
    """Synthetic digits: class c fires in its own 8x8 block, ``duration_us`` long."""
    return [(class_events(k % 3, n=300, duration_us=duration_us, seed=k), str(k % 3)) for k in range(n)]


def events_in(events: EventBatch, seg: LabelSegment) -> EventBatch:
    return events.select((events.t >= seg.start_us) & (events.t < seg.end_us))


def poisson_ok(count: int, expected: float, sigmas: float = 5.0) -> bool:
    return abs(count - expected) <= sigmas * np.sqrt(expected)


def test_holds_stay_in_range_and_repeat_the_recording_without_gap():
    recipe = StreamRecipe(hold_us=(500_000, 900_000), noise_hz_per_pixel=0.0, seed=3)
    src = samples()
    events, labels = build_stream(src, recipe)
    assert [seg.label for seg in labels] == [label for _, label in src]
    for (sample, _), seg in zip(src, labels):
        length = seg.end_us - seg.start_us
        assert 500_000 <= length <= 900_000
        got = events_in(events, seg)
        rel = sample.t - sample.t.min()
        period = int(rel.max()) + 1
        reps = -(-length // period)
        want = np.sort((rel[None, :] + period * np.arange(reps)[:, None]).ravel())
        np.testing.assert_array_equal(got.t - seg.start_us, want[want < length])
        assert reps >= 3 and got.t.max() - seg.start_us > 2 * period  # it really was repeated


def test_a_hold_shorter_than_the_recording_cuts_it():
    sample = class_events(0, n=300, duration_us=300_000, seed=1)
    held = held_events(sample, 5_000_000, 100_000)
    assert len(held) == int((sample.t - sample.t.min() < 100_000).sum())
    assert held.t.min() == 5_000_000 and held.t.max() < 5_100_000


def test_noise_rate_matches_the_request_on_every_pixel():
    rate = 5.0
    events, labels = build_idle_stream(10_000_000, StreamRecipe(noise_hz_per_pixel=rate, seed=1))
    span_s = (labels[-1].end_us - labels[0].start_us) / 1e6
    assert span_s >= 10.0
    assert poisson_ok(len(events), rate * PIXELS * span_s)
    per_pixel = np.bincount(events.y.astype(np.int64) * 34 + events.x, minlength=PIXELS)
    assert per_pixel.min() > 0 and per_pixel.max() < 3 * rate * span_s  # spread over the sensor
    on = int(events.p.sum())
    assert set(np.unique(events.p)) == {0, 1} and poisson_ok(on, len(events) / 2)
    assert {seg.label for seg in labels} == {IDLE_LABEL}


def test_noise_runs_during_digits_too():
    rate = 20.0
    src = samples()  # classes 0..2: blocks in the top rows; count noise outside them
    events, labels = build_stream(src, StreamRecipe(noise_hz_per_pixel=rate, seed=5))
    digit_pixels = set()
    for sample, _ in src:
        digit_pixels |= set(zip(sample.x.tolist(), sample.y.tolist()))
    outside = np.array([(x, y) not in digit_pixels for x, y in zip(events.x.tolist(), events.y.tolist())])
    for seg in labels:
        mask = (events.t >= seg.start_us) & (events.t < seg.end_us) & outside
        expected = rate * (PIXELS - len(digit_pixels)) * (seg.end_us - seg.start_us) / 1e6
        assert poisson_ok(int(mask.sum()), expected)


def test_idle_stretches_hold_only_noise():
    recipe = StreamRecipe(hold_us=(300_000, 400_000), idle_probability=0.5, idle_us=(200_000, 300_000),
                          noise_hz_per_pixel=0.0, seed=2)
    events, labels = build_stream(samples(12), recipe)
    idle = [seg for seg in labels if seg.label == IDLE_LABEL]
    assert idle and labels[0].label != IDLE_LABEL
    assert all(200_000 <= seg.end_us - seg.start_us <= 300_000 for seg in idle)
    assert all(len(events_in(events, seg)) == 0 for seg in idle)
    noisy, noisy_labels = build_stream(samples(12), replace(recipe, noise_hz_per_pixel=5.0))
    assert noisy_labels == labels  # the noise rate changes nothing of the layout
    for seg in idle:
        got = events_in(noisy, seg)
        assert poisson_ok(len(got), 5.0 * PIXELS * (seg.end_us - seg.start_us) / 1e6)


@pytest.mark.parametrize("seed", range(5))
def test_segments_back_to_back_off_the_grid_and_events_sorted(seed):
    recipe = StreamRecipe(idle_probability=0.4, start_offset_us=(0, 60_000), t0_us=600_000, seed=seed)
    events, labels = build_stream(samples(10), recipe)
    assert all(a.end_us == b.start_us for a, b in pairwise(labels))
    for t in [seg.start_us for seg in labels] + [labels[-1].end_us]:
        assert 1_000 <= t % 30_000 <= 29_000
    assert labels[0].start_us >= recipe.t0_us
    assert np.all(np.diff(events.t) >= 0)
    assert events.t.min() >= labels[0].start_us and events.t.max() < labels[-1].end_us
    assert events.t.dtype == np.int64 and events.x.dtype == np.int16 and events.p.dtype == np.int8


def test_boundary_phases_are_random_not_one_offset():
    _, labels = build_stream(samples(20), StreamRecipe(seed=9))
    phases = {seg.start_us % 30_000 for seg in labels}
    assert len(phases) == len(labels)


def test_deterministic_for_a_seed():
    recipe = StreamRecipe(idle_probability=0.3, seed=11)
    (a, la), (b, lb) = build_stream(samples(), recipe), build_stream(samples(), recipe)
    assert la == lb
    for name in ("t", "x", "y", "p"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    _, other = build_stream(samples(), StreamRecipe(idle_probability=0.3, seed=12))
    assert other != la


def test_recipe_and_input_errors():
    with pytest.raises(ValueError, match="hold_us"):
        StreamRecipe(hold_us=(900_000, 600_000))
    with pytest.raises(ValueError, match="idle_probability"):
        StreamRecipe(idle_probability=1.5)
    with pytest.raises(ValueError, match="off the"):  # a fixed length from an on-grid start lands on it
        build_stream(samples(2), StreamRecipe(hold_us=(285_000, 285_000), start_offset_us=(15_000, 15_000),
                                              t0_us=0))
    with pytest.raises(ValueError, match="idle"):
        build_stream([(class_events(0), IDLE_LABEL)], StreamRecipe())
    with pytest.raises(ValueError, match="sensor"):
        build_stream([(class_events(0, size=64), "0")], StreamRecipe())


def test_training_samples_are_refused(tmp_path):
    root = write_nmnist_folder(tmp_path / "nm", per_class=5, num_classes=2)
    split = shared_nmnist_split(root)
    assert validation_ids(root, model_path=None) == split.val
    with pytest.raises(InputError, match="validation split"):
        check_not_trained_on([split.val[0], split.train[0]], root, model_path=None)
    with pytest.raises(InputError, match="validation split"):
        validation_samples(root, ids=[split.train[0]], model_path=None)
    picked = pick_per_class(split.val, 1, seed=0)
    assert sorted(picked) == sorted(split.val)  # one per class, and there is one per class
    loaded = validation_samples(root, ids=picked, model_path=None)
    assert [label for _, label in loaded] == [rel.split("/")[0] for rel in picked]


@pytest.mark.shared
@pytest.mark.skipif(not SHARED_NMNIST.is_dir(), reason="needs ../shared/data/nmnist beside the checkout")
def test_real_streams_use_validation_samples_only():
    split = shared_nmnist_split(SHARED_NMNIST)
    ids = validation_ids(SHARED_NMNIST)  # also checks the shipped model's hold-out list
    assert set(ids) == set(split.val) and not set(ids) & set(split.train)
    chosen = pick_per_class(ids, 1, seed=4)
    assert len(chosen) == 10 and set(chosen) <= set(split.val)
    with pytest.raises(InputError):
        validation_samples(SHARED_NMNIST, ids=[*chosen[:2], split.train[0]])
    events, labels = build_stream(validation_samples(SHARED_NMNIST, ids=chosen[:3]),
                                  StreamRecipe(hold_us=(600_000, 600_000 + 29_000), seed=1))
    assert [seg.label for seg in labels] == [rel.split("/")[0] for rel in chosen[:3]]
    assert len(events) > 3 * 2 * 1_000


def demo_sample_ids(stem: str) -> list[str]:
    text = (RECORDINGS / f"{stem}.samples.txt").read_text()
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_shipped_live_demo_never_goes_silent():
    """Facts of recordings/nmnist-demo.aedat4 (see recordings/README.md)."""
    from r2etl_core.io.dv import read_all_events

    labels = read_labels(RECORDINGS / "nmnist-demo.labels.csv")
    digits = [seg for seg in labels if seg.label != UNKNOWN_LABEL]
    assert len(labels) == 21 and sorted(seg.label for seg in digits) == sorted([str(d) for d in range(10)] * 2)
    traffic = labels[10]  # 2.36 s of cars, padded to whole slices
    assert traffic.label == UNKNOWN_LABEL and traffic.end_us - traffic.start_us == 2_370_000
    assert all(a.end_us == b.start_us for a, b in pairwise(labels))
    assert all(1_000 <= seg.start_us % 30_000 <= 29_000 for seg in labels)
    assert all(800_000 <= seg.end_us - seg.start_us <= 1_000_000 for seg in digits)
    events = read_all_events(RECORDINGS / "nmnist-demo.aedat4")
    assert len(events) == 356_173 and (events.width, events.height) == (34, 34)
    assert labels[0].start_us <= events.t_first_us and events.t_last_us < labels[-1].end_us
    assert np.all(np.diff(events.t) >= 0) and np.diff(events.t).max() < 10_000  # noise never stops
    assert len(demo_sample_ids("nmnist-demo")) == 20


@pytest.mark.shared
@pytest.mark.skipif(not SHARED_NMNIST.is_dir(), reason="needs ../shared/data/nmnist beside the checkout")
@pytest.mark.parametrize("stem", ["nmnist-demo", "nmnist-demo-gapped"])
def test_shipped_demos_show_validation_samples_only(stem):
    ids = demo_sample_ids(stem)
    check_not_trained_on(ids, SHARED_NMNIST)  # raises on a training sample
    assert set(ids) <= set(shared_nmnist_split(SHARED_NMNIST).val)
