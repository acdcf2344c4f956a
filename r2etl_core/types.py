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
    """Events of one time window ``[t_start_us, t_end_us)`` as cut by a slicer."""

    t_start_us: int
    t_end_us: int
    events: EventBatch
    read_s: float = 0.0  # wall time the source spent producing these events


@dataclass(frozen=True)
class StageTimings:
    read_ms: float
    bin_ms: float
    transfer_ms: float
    model_ms: float


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

    def to_json(self) -> dict:
        return {
            "index": self.index, "t_start_us": self.t_start_us, "t_end_us": self.t_end_us,
            "events": self.event_count, "top_class": self.top_class, "label": self.top_label,
            "confidence": round(self.confidence, 5),
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
