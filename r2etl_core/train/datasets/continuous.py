"""Continuous, labelled event streams from N-MNIST validation samples, to judge streaming readouts.

Why these exist: a real camera never goes silent. Background activity fires every few
milliseconds on every pixel, and the scene changes whenever it likes, not on the 30 ms slice
grid. A readout judged only on recordings with silent gaps between digits that start on slice
boundaries looks better than it will live (it can reset on silence, and every slice holds one
digit only). The streams built here have none of those crutches:

- digits back to back, each HELD for a while by playing its recording again and again (a
  repetition continues in time where the previous one ended: no gap);
- background-activity noise over the whole sensor, throughout (also during digits): independent
  Poisson events on every pixel with random polarity;
- optional noise-only stretches between digits, labelled ``IDLE_LABEL``;
- every segment boundary off the slice grid (random offsets), so slices straddle two segments.

Labels are ``LabelSegment``s covering the stream without gaps. Only samples of the fixed
validation split are used (``validation_samples``), cross-checked against the shipped model's
hold-out list: a stream that shows a digit the model trained on would judge nothing.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from r2etl_core.errors import InputError
from r2etl_core.io.labels import IDLE_LABEL, LabelSegment
from r2etl_core.io.modelfile import DEFAULT_MODEL_PATH, read_meta
from r2etl_core.io.nmnist import NMNIST_SIZE, read_bin
from r2etl_core.train.datasets.splits import shared_nmnist_split
from r2etl_core.types import EventBatch

Sample = tuple[EventBatch, str]  # a recording and its class name
_MAX_DRAWS = 1000  # tries to find a segment length that ends off the slice grid


@dataclass(frozen=True)
class StreamRecipe:
    """How a continuous stream is laid out. Times in microseconds, ranges inclusive ``(lo, hi)``."""

    hold_us: tuple[int, int] = (600_000, 1_200_000)  # how long one digit is shown (one N-MNIST
    #   recording lasts ~0.3 s: longer holds repeat it, shorter ones cut it)
    noise_hz_per_pixel: float = 1.0  # background activity, events per second on EVERY pixel
    idle_probability: float = 0.0  # chance of a noise-only stretch before each digit but the first
    idle_us: tuple[int, int] = (300_000, 1_500_000)  # length of one idle stretch
    start_offset_us: tuple[int, int] = (1_000, 29_000)  # first segment starts at t0_us + this
    slice_grid_us: int = 30_000  # the slicer's grid: absolute multiples of this
    off_grid_margin_us: int = 1_000  # every boundary is at least this far from a grid line
    sensor: tuple[int, int] = NMNIST_SIZE  # width, height
    seed: int = 0
    t0_us: int = 1_000_000  # the camera clock at the start: already running, as a live one is

    def __post_init__(self) -> None:
        for name, lo_min in (("hold_us", 1), ("idle_us", 1), ("start_offset_us", 0)):
            lo, hi = getattr(self, name)
            if not lo_min <= lo <= hi:
                raise ValueError(f"{name} must be a range (lo, hi) with {lo_min} <= lo <= hi, got {(lo, hi)}")
        if not (math.isfinite(self.noise_hz_per_pixel) and self.noise_hz_per_pixel >= 0):
            raise ValueError(f"noise_hz_per_pixel must be >= 0, got {self.noise_hz_per_pixel}")
        if not 0.0 <= self.idle_probability <= 1.0:
            raise ValueError(f"idle_probability must be in [0, 1], got {self.idle_probability}")
        if not 1 <= self.off_grid_margin_us < self.slice_grid_us / 2:
            raise ValueError(f"off_grid_margin_us must be in [1, slice_grid_us / 2), got "
                             f"{self.off_grid_margin_us} for a {self.slice_grid_us} us grid")
        if self.t0_us < 0 or min(self.sensor) < 1:
            raise ValueError(f"t0_us must be >= 0 and the sensor non-empty, got {self.t0_us}, {self.sensor}")


@dataclass(frozen=True)
class _Placed:
    """One segment on the time line; ``sample`` indexes the samples, None for idle."""

    start_us: int
    end_us: int
    sample: int | None


# ---------------------------------------------------------------- layout (the time line)

def off_grid(t_us: int, recipe: StreamRecipe) -> bool:
    """True when ``t_us`` is at least the recipe's margin away from every slice-grid line."""
    phase = t_us % recipe.slice_grid_us
    return recipe.off_grid_margin_us <= phase <= recipe.slice_grid_us - recipe.off_grid_margin_us


def _draw_length(rng: np.random.Generator, span: tuple[int, int], start_us: int,
                 recipe: StreamRecipe) -> int:
    """A length uniform in ``span`` whose end ``start_us + length`` is off the grid (rejection:
    uniform over the allowed lengths, so the phases of boundaries stay random)."""
    lo, hi = span
    for _ in range(_MAX_DRAWS):
        length = int(rng.integers(lo, hi + 1))
        if off_grid(start_us + length, recipe):
            return length
    raise ValueError(f"no length in {span} us starting at {start_us} ends off the "
                     f"{recipe.slice_grid_us} us grid: widen the range")


def _first_start(rng: np.random.Generator, recipe: StreamRecipe) -> int:
    return recipe.t0_us + _draw_length(rng, recipe.start_offset_us, recipe.t0_us, recipe)


def _digit_layout(n_digits: int, recipe: StreamRecipe, rng: np.random.Generator) -> list[_Placed]:
    """Digits back to back, an idle stretch before some of them (never before the first)."""
    start = _first_start(rng, recipe)
    placed: list[_Placed] = []
    for k in range(n_digits):
        if k and rng.random() < recipe.idle_probability:
            length = _draw_length(rng, recipe.idle_us, start, recipe)
            placed.append(_Placed(start, start + length, None))
            start += length
        length = _draw_length(rng, recipe.hold_us, start, recipe)
        placed.append(_Placed(start, start + length, k))
        start += length
    return placed


def _idle_layout(duration_us: int, recipe: StreamRecipe, rng: np.random.Generator) -> list[_Placed]:
    """Idle stretches (lengths from ``recipe.idle_us``) until at least ``duration_us`` is covered."""
    start = first = _first_start(rng, recipe)
    placed: list[_Placed] = []
    while start - first < duration_us:
        length = _draw_length(rng, recipe.idle_us, start, recipe)
        placed.append(_Placed(start, start + length, None))
        start += length
    return placed


# ---------------------------------------------------------------- events

def held_events(sample: EventBatch, start_us: int, hold_us: int) -> EventBatch:
    """``sample`` played from ``start_us`` for ``hold_us``: repeated back to back when the hold is
    longer than the recording, cut when shorter. The recording's period is its span (first to
    last event + 1 us), so a repetition continues where the previous one stopped, no gap."""
    if not len(sample):
        raise ValueError("a sample without events cannot be held")
    first = int(sample.t.min())
    rel = sample.t.astype(np.int64) - first
    period = int(rel.max()) + 1
    reps = -(-hold_us // period)
    t = np.tile(rel, reps) + np.repeat(np.arange(reps, dtype=np.int64) * period, len(rel))
    keep = t < hold_us
    return EventBatch(t[keep] + start_us, np.tile(sample.x, reps)[keep], np.tile(sample.y, reps)[keep],
                      np.tile(sample.p, reps)[keep], sample.width, sample.height)


def background_noise(start_us: int, end_us: int, rate_hz: float, width: int, height: int,
                     rng: np.random.Generator) -> EventBatch:
    """Background activity over ``[start_us, end_us)``: independent Poisson events on every pixel
    at ``rate_hz``, random polarity. Drawn as their superposition (one Poisson count for the whole
    sensor, each event at a uniform time and pixel), which has exactly that distribution."""
    duration = end_us - start_us
    n = int(rng.poisson(rate_hz * width * height * duration / 1e6)) if rate_hz > 0 and duration > 0 else 0
    t = rng.integers(start_us, max(end_us, start_us + 1), n, dtype=np.int64)
    x = rng.integers(0, width, n).astype(np.int16)
    y = rng.integers(0, height, n).astype(np.int16)
    p = rng.integers(0, 2, n).astype(np.int8)
    return EventBatch(t, x, y, p, width, height)


def _render(placed: list[_Placed], samples: Sequence[Sample], recipe: StreamRecipe,
            rng: np.random.Generator) -> tuple[EventBatch, list[LabelSegment]]:
    width, height = recipe.sensor
    parts = [held_events(samples[seg.sample][0], seg.start_us, seg.end_us - seg.start_us)
             for seg in placed if seg.sample is not None]
    if placed:
        parts.append(background_noise(placed[0].start_us, placed[-1].end_us, recipe.noise_hz_per_pixel,
                                      width, height, rng))
    events = EventBatch.concat(parts, width, height)
    events = events.select(np.argsort(events.t, kind="stable"))
    labels = [LabelSegment(seg.start_us, seg.end_us,
                           IDLE_LABEL if seg.sample is None else samples[seg.sample][1]) for seg in placed]
    return events, labels


def _rngs(recipe: StreamRecipe) -> tuple[np.random.Generator, np.random.Generator]:
    """Separate generators for the layout and the noise: streams that differ only in their noise
    rate get the very same digits at the very same times, so they compare noise alone."""
    return np.random.default_rng([recipe.seed, 0]), np.random.default_rng([recipe.seed, 1])


def build_stream(samples: Sequence[Sample], recipe: StreamRecipe) -> tuple[EventBatch, list[LabelSegment]]:
    """One continuous stream showing ``samples`` in the given order (each a recording and its class
    name), laid out by ``recipe``. Pure: the same inputs give the same stream.

    Returns the time-sorted events and the label segments, back to back from the first start
    to the end of the last digit (idle stretches labelled ``IDLE_LABEL``)."""
    for k, (events, label) in enumerate(samples):
        if (events.width, events.height) != recipe.sensor:
            raise ValueError(f"sample {k} is {events.width}x{events.height}, the recipe's sensor {recipe.sensor}")
        if not len(events):
            raise ValueError(f"sample {k} ({label}) has no events")
        if label == IDLE_LABEL:
            raise ValueError(f"sample {k} is labelled {IDLE_LABEL!r}, the label of noise-only stretches")
    layout_rng, noise_rng = _rngs(recipe)
    return _render(_digit_layout(len(samples), recipe, layout_rng), samples, recipe, noise_rng)


def build_idle_stream(duration_us: int, recipe: StreamRecipe) -> tuple[EventBatch, list[LabelSegment]]:
    """Noise only, at least ``duration_us`` long, in idle segments of ``recipe.idle_us``: what a
    readout must NOT call a digit (a camera looking at nothing)."""
    if duration_us < 1:
        raise ValueError(f"duration_us must be positive, got {duration_us}")
    layout_rng, noise_rng = _rngs(recipe)
    return _render(_idle_layout(duration_us, recipe, layout_rng), [], recipe, noise_rng)


# ---------------------------------------------------------------- validation samples only

def check_not_trained_on(ids: Sequence[str], nmnist_root: str | Path,
                         model_path: Path | None = DEFAULT_MODEL_PATH) -> None:
    """InputError unless every id (``"<class>/<name>.bin"``) is in the fixed validation split and,
    when ``model_path`` exists, in that model's hold-out list."""
    val = set(shared_nmnist_split(nmnist_root).val)
    outside = [rel for rel in ids if rel not in val]
    if outside:
        raise InputError(nmnist_root, f"{len(outside)} samples are not in the validation split "
                                      f"(e.g. {outside[:3]}): streams must use held-out samples only")
    if model_path is not None and Path(model_path).exists():
        holdout = set(read_meta(model_path).training.get("holdout", []))
        trained_on = [rel for rel in ids if rel not in holdout]
        if trained_on:
            raise InputError(model_path, f"the model trained on {len(trained_on)} of the chosen samples "
                                         f"(e.g. {trained_on[:3]}): not a fair test")


def validation_ids(nmnist_root: str | Path, model_path: Path | None = DEFAULT_MODEL_PATH) -> tuple[str, ...]:
    """All validation sample ids of ``nmnist_root`` (e.g. ``../shared/data/nmnist/Train``), checked."""
    ids = shared_nmnist_split(nmnist_root).val
    check_not_trained_on(ids, nmnist_root, model_path)
    return ids


def pick_per_class(ids: Sequence[str], per_class: int, seed: int) -> list[str]:
    """``per_class`` ids of every class, chosen at random, in a random (seeded) stream order."""
    rng = random.Random(seed)
    by_class: dict[str, list[str]] = {}
    for rel in sorted(ids):
        by_class.setdefault(class_of(rel), []).append(rel)
    chosen = [rel for cls in sorted(by_class) for rel in rng.sample(by_class[cls], min(per_class, len(by_class[cls])))]
    rng.shuffle(chosen)
    return chosen


# (per_class, seed) of the digit picks of the continuous test streams (held-*, single-*, mixed in
# scripts/make_continuous_streams.py): calibration never uses these validation samples.
TEST_STREAM_PICKS = ((3, 1), (8, 2), (3, 4))


def test_stream_ids(nmnist_root: str | Path, model_path: Path | None = DEFAULT_MODEL_PATH) -> set[str]:
    """Every validation sample some continuous test stream shows."""
    ids = validation_ids(nmnist_root, model_path)
    return {rel for n, seed in TEST_STREAM_PICKS for rel in pick_per_class(ids, n, seed)}


def class_of(rel: str) -> str:
    """Class name of a sample id: its folder, ``"3/00123.bin"`` -> ``"3"``."""
    return Path(rel).parts[0]


def validation_samples(nmnist_root: str | Path, ids: Sequence[str] | None = None,
                       model_path: Path | None = DEFAULT_MODEL_PATH) -> list[Sample]:
    """Recordings and class names of ``ids`` (default: the whole validation split), in that order,
    after checking that none was trained on (``check_not_trained_on``)."""
    root = Path(nmnist_root)
    chosen = list(validation_ids(root, model_path) if ids is None else ids)
    if ids is not None:
        check_not_trained_on(chosen, root, model_path)
    return [(read_bin(root / rel), class_of(rel)) for rel in chosen]
