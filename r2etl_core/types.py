"""Payloads that cross module and thread boundaries. All immutable (frozen) or copied arrays.

Event arrays follow one layout everywhere: ``t`` int64 microseconds, ``x``/``y`` int16 pixel
coordinates, ``p`` int8 polarity (1 = ON, 0 = OFF).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class EventBatch:
    """A chunk of events from a source, time-ordered. Arrays are owned by the batch."""

    t: np.ndarray  # int64, microseconds
    x: np.ndarray  # int16
    y: np.ndarray  # int16
    p: np.ndarray  # int8, 1 = ON
    width: int
    height: int

    def __len__(self) -> int:
        return int(self.t.shape[0])

    @property
    def t_first_us(self) -> int:
        return int(self.t[0]) if len(self) else 0

    @property
    def t_last_us(self) -> int:
        return int(self.t[-1]) if len(self) else 0

    @staticmethod
    def empty(width: int, height: int) -> "EventBatch":
        return EventBatch(
            np.zeros(0, np.int64), np.zeros(0, np.int16), np.zeros(0, np.int16),
            np.zeros(0, np.int8), width, height,
        )

    def select(self, mask_or_slice) -> "EventBatch":
        return EventBatch(self.t[mask_or_slice], self.x[mask_or_slice], self.y[mask_or_slice],
                          self.p[mask_or_slice], self.width, self.height)

    @staticmethod
    def concat(batches: list["EventBatch"], width: int, height: int) -> "EventBatch":
        if not batches:
            return EventBatch.empty(width, height)
        return EventBatch(
            np.concatenate([b.t for b in batches]), np.concatenate([b.x for b in batches]),
            np.concatenate([b.y for b in batches]), np.concatenate([b.p for b in batches]),
            width, height,
        )


@dataclass(frozen=True)
class SourceInfo:
    """What a source is: shown in the GUI and by ``r2etl info``."""

    kind: str  # "file", "camera", "network", "nmnist"
    name: str  # path, serial or host:port
    width: int
    height: int
    camera: str = ""  # camera model/name as reported by the device or file
    duration_us: int | None = None  # known for files
    t_start_us: int | None = None
    event_count: int | None = None
    seekable: bool = False


@dataclass(frozen=True)
class EventSlice:
    """Events of one slice ``[t_start_us, t_end_us)`` as cut by a slicer."""

    t_start_us: int
    t_end_us: int
    events: EventBatch
    read_s: float = 0.0  # wall time the source spent producing these events


@dataclass(frozen=True)
class BinnedSlice:
    """A slice binned on the reader thread, queued for the model thread. ``frame`` is a
    ``[2, S, S]`` float32 torch tensor on the model's device; ``settings`` are the
    ``StreamSettings`` it was cut under (the model applies their reset policy and readout)."""

    slice: EventSlice
    frame: object  # torch.Tensor (kept untyped here: this module does not import torch)
    arrived_s: float  # time.monotonic() when its events were binned
    bin_s: float
    transfer_s: float
    settings: object = None
    activity: float = 0.0  # ROI events above the noise floor in this slice (roi_activity)
    noise_sd: float = 0.0  # that estimate's spread for pure noise


@dataclass(frozen=True)
class StageTimings:
    read_ms: float
    bin_ms: float
    transfer_ms: float
    model_ms: float


# Two kinds of "no decision" (Prediction.abstain): the square shows no more than background
# noise, or it shows something that is none of the model's classes.
ABSTAIN_NOTHING = "no activity"
ABSTAIN_UNKNOWN = "unknown"
NOTHING_ANSWER = "\u2014"  # shown for ABSTAIN_NOTHING (an em dash)
UNKNOWN_ANSWER = "?"  # shown for ABSTAIN_UNKNOWN


@dataclass(frozen=True)
class Prediction:
    """The engine's output for one slice."""

    index: int
    t_start_us: int
    t_end_us: int
    event_count: int
    probabilities: tuple[float, ...]
    top_class: int
    top_label: str
    confidence: float
    timings: StageTimings
    step_in_window: int  # slices since the last state reset (1 = first after reset)
    reset_before: bool  # the neuron state was reset before this slice
    wall_time_s: float  # time.monotonic() when the prediction was ready
    latency_ms: float  # from the slice's last event reaching us to the prediction
    abstain: str | None = None  # why no class is given: ABSTAIN_NOTHING, ABSTAIN_UNKNOWN, or None
    activity: float = 0.0  # smoothed ROI events per slice above the stream's noise floor
    margin: float = 1.0  # top-1 minus top-2 probability
    unknown_score: float | None = None  # distance from every class (nn.unknown); None: model has no detector

    @property
    def decided(self) -> bool:
        return self.abstain is None

    @property
    def label(self) -> str | None:
        """The answer shown to users: the top label, or None for "no decision" (either kind)."""
        return self.top_label if self.abstain is None else None

    @property
    def answer(self) -> str:
        """What a person is told, as one token: the class, ``UNKNOWN_ANSWER`` or ``NOTHING_ANSWER``."""
        if self.abstain is None:
            return self.top_label
        return UNKNOWN_ANSWER if self.abstain == ABSTAIN_UNKNOWN else NOTHING_ANSWER

    def to_json(self) -> dict:
        return {
            "index": self.index, "t_start_us": self.t_start_us, "t_end_us": self.t_end_us,
            "events": self.event_count, "top_class": self.top_class, "label": self.label,
            "abstain": self.abstain, "best_guess": self.top_label, "confidence": round(self.confidence, 5),
            "unknown_score": None if self.unknown_score is None else round(self.unknown_score, 3),
            "margin": round(self.margin, 5), "activity": round(self.activity, 2),
            "probabilities": [round(p, 5) for p in self.probabilities],
            "step_in_window": self.step_in_window, "reset_before": self.reset_before,
            "timings_ms": {"read": round(self.timings.read_ms, 4), "bin": round(self.timings.bin_ms, 4),
                           "transfer": round(self.timings.transfer_ms, 4),
                           "model": round(self.timings.model_ms, 4)},
            "latency_ms": round(self.latency_ms, 4),
        }


@dataclass(frozen=True)
class SpikeSnapshot:
    """Per-layer spike activity of one slice: for the raster / firing-rate panel."""

    index: int
    t_end_us: int
    layer_names: tuple[str, ...]
    spike_counts: tuple[int, ...]  # spikes emitted by each layer in this slice
    neuron_counts: tuple[int, ...]  # neurons in each layer (rate = counts / neurons)
    frame: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((2, 1, 1), np.float32))

    @property
    def firing_rates(self) -> tuple[float, ...]:
        return tuple(c / max(n, 1) for c, n in zip(self.spike_counts, self.neuron_counts))


@dataclass(frozen=True)
class EngineOutput:
    """Everything the views need about one slice. ``sensor_frame`` is ``[2, H, W]`` uint16
    ON/OFF counts over the whole sensor (for the event view); ``model_frame`` is what the
    network saw (``[2, S, S]`` float32, after ROI crop and resize)."""

    prediction: Prediction
    spikes: SpikeSnapshot
    sensor_frame: np.ndarray = field(repr=False)
    model_frame: np.ndarray = field(repr=False)
    jumped: bool = False  # the first output after a seek (protocols.SEEK): older ones are from before it


# -- what the engine is asked to do -------------------------------------------------------

@dataclass(frozen=True)
class SliceByTime:
    """Consecutive slices of ``slice_us`` microseconds each, on a grid from t = 0."""

    slice_us: int

    def __post_init__(self):
        if self.slice_us <= 0:
            raise ValueError(f"slice length must be positive, got {self.slice_us} us")


@dataclass(frozen=True)
class SliceByCount:
    events_per_slice: int

    def __post_init__(self):
        if self.events_per_slice <= 0:
            raise ValueError(f"events per slice must be positive, got {self.events_per_slice}")


@dataclass(frozen=True)
class FrameSpec:
    """Region of interest (sensor pixels) mapped onto the model's ``out_size`` square input.

    ``scale_counts``: divide counts by the pixels each output pixel gathers, so a frame made
    from a large ROI has the same per-pixel density as one made at native size."""

    roi_x: int
    roi_y: int
    roi_size: int
    out_size: int
    scale_counts: bool = True

    @staticmethod
    def centred(width: int, height: int, out_size: int) -> "FrameSpec":
        side = min(width, height)
        return FrameSpec((width - side) // 2, (height - side) // 2, side, out_size)

    def clamped(self, width: int, height: int) -> "FrameSpec":
        """Keep the ROI inside a ``width`` x ``height`` sensor (e.g. after a source switch)."""
        side = max(1, min(self.roi_size, width, height))
        x = min(max(0, self.roi_x), width - side)
        y = min(max(0, self.roi_y), height - side)
        return FrameSpec(x, y, side, self.out_size, self.scale_counts)


RESET_KINDS = ("silence", "window", "manual")


@dataclass(frozen=True)
class ResetPolicy:
    """When the carried neuron state is forgotten. ``ResetPolicy()`` is THE default of every
    front end (CLI, viewer, benchmarks): see docs/benchmarks.md for how it was chosen.

    ``silence``: before a slice whose first event follows ``silence_us`` without events.
    ``window``: every ``window_slices`` slices (0: the model's training T). ``manual``: only
    on request."""

    kind: str = "silence"
    silence_us: int = 20_000
    window_slices: int = 0

    def __post_init__(self):
        if self.kind not in RESET_KINDS:
            raise ValueError(f"unknown reset policy {self.kind!r} (silence, window or manual)")


READOUT_KINDS = ("ema", "window", "staggered", "since-reset")


@dataclass(frozen=True)
class Readout:
    """How per-slice logits become the prediction shown, and when to say "no decision".
    ``Readout()`` is THE default of every front end; docs/benchmarks.md has the measurements
    on continuous streams that chose it.

    ``ema``: state carried, exponential moving average of the logits, time constant ``tau_ms``.
    ``window``: state carried, mean of the logits of the last ``window_slices`` slices.
    ``staggered``: ``copies`` copies of the network in one batch, each restarted from rest
    every ``window_slices`` slices at evenly spread offsets; the prediction is the mean
    logits of the copy that has run longest since its restart (the training condition).
    With ``copies == window_slices`` it is a sliding window re-run from rest.
    ``since-reset``: mean of every logit since the last state reset (before r2etl 0.2).
    ``window_slices`` 0 means the model's training T.

    No decision: when the smoothed ROI activity above the noise floor (estimated from the
    stream itself: see ``r2etl_core.stream.slicing.roi_activity``) is below ``min_activity``
    events per slice (0: automatic, a few standard deviations of the noise), or the top-1
    minus top-2 probability is below ``min_margin`` ("no activity" / "unknown" respectively).
    Unknown: when the model's feature distance from every class (``r2etl_core.nn.unknown``)
    is above ``unknown_threshold`` (0: the threshold calibrated into the model file; ``inf``:
    off). Models without a calibrated detector never say "unknown"."""

    kind: str = "ema"
    tau_ms: float = 75.0
    window_slices: int = 0
    copies: int = 2
    min_margin: float = 0.0  # measured: the activity gate alone abstains on idle noise (docs/benchmarks.md)
    min_activity: float = 0.0
    unknown_threshold: float = 0.0  # 0: the model's calibrated threshold; inf: never "unknown"

    def __post_init__(self):
        if self.kind not in READOUT_KINDS:
            raise ValueError(f"unknown readout {self.kind!r} ({', '.join(READOUT_KINDS)})")


DEFAULT_SLICE_US = 30_000  # training frames' slice length, and a model file's that names none


# -- what the engine reports ---------------------------------------------------------------

@dataclass(frozen=True)
class EngineStats:
    """A snapshot of the engine for the stats panel and the CLI summary (rates over the last
    second, latency percentiles over the last 500 slices)."""

    events_in: int
    events_per_s: float
    slices_done: int
    slices_per_s: float
    dropped: int
    model_ms_p50: float
    model_ms_p99: float
    latency_ms_p50: float
    latency_ms_p99: float
    device: str
    running: bool
    finished: bool
    error: str | None
    sensor: tuple[int, int]
    roi: FrameSpec | None
    input_lost: str | None = None  # why a live input stopped by itself ("camera X disconnected")
