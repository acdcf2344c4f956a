"""What a user may change while a stream runs, as one immutable value (``StreamSettings``),
and what cannot change while it runs (``EngineConfig``).

``StreamSettings`` goes into the engine through ``StreamEngine.configure`` (the one door): the
reader picks up the slicing, noise filter and ROI at its next batch, and every slice carries
the settings it was cut under to the model, which switches reset policy and readout at the
first slice that brings new ones. Its defaults are the defaults of every front end; a slicing
left at None follows the model file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from r2etl_core.types import EventBatch, FrameSpec, Readout, ResetPolicy, SliceByCount, SliceByTime

# (sensor width, height) -> a stateful function that filters consecutive batches of that sensor
FilterFactory = Callable[[int, int], Callable[[EventBatch], EventBatch]]


def model_slicing(meta) -> SliceByTime | SliceByCount:
    """Slice a stream the way the model's training frames were made (``meta``: ModelMeta)."""
    return meta.slicing.slicer()


@dataclass(frozen=True)
class StreamSettings:
    """What the user chose; None means "what the model was trained with" / the default."""

    slicing: SliceByTime | SliceByCount | None = None
    reset: ResetPolicy = ResetPolicy()  # the one default reset of every front end
    readout: Readout = Readout()  # the one default readout of every front end
    denoise_us: int | None = None  # background-activity filter window; None: off
    roi: FrameSpec | None = None  # sensor pixels; None: the centred square

    def slicing_for(self, meta) -> SliceByTime | SliceByCount:
        return self.slicing or model_slicing(meta)

    def same_cut(self, other: "StreamSettings | None") -> bool:
        """Whether slices cut under ``other`` continue under these (no fresh slicer needed)."""
        return other is not None and (self.slicing, self.denoise_us) == (other.slicing, other.denoise_us)


def noise_filter_factory(duration_us: int | None) -> FilterFactory | None:
    """dv-processing's background-activity filter, one per sensor size (None: no filter)."""
    if not duration_us:
        return None
    from r2etl_core.io.dv import BackgroundActivityFilter, NoiseFilterParams

    params = NoiseFilterParams(duration_us)
    return lambda width, height: BackgroundActivityFilter(width, height, params)


@dataclass(frozen=True)
class EngineConfig:
    """What cannot change while the engine runs (``StreamSettings`` is what can)."""

    queue_slices: int = 4
    max_run: int = 16  # queued slices stepped in one multi-step forward (state carried)
    frames: bool = True  # sensor/model frames in the outputs (views); the CLI needs none
    cuda_graph: bool = True  # on CUDA, replay the step as a captured graph (eager if capture fails)
    precision: str = "fp32"  # "bf16"/"fp16" on CUDA: half the memory traffic (see docs/benchmarks.md)
    model_process: bool = False  # step the network in a child process (the viewer: no GIL contention)
    drop_when_busy: bool = True
    device: str | None = None  # None: CUDA when present, else CPU
    history: int = 512  # outputs kept for take_outputs() (each holds a sensor-sized frame)
    history_bytes: int = 64 << 20  # and at most this much memory in their frames (a stalled GUI)
    # Batch-1 steps of a small network gain nothing from more intra-op threads, and when the
    # cores are busy (GUI, other jobs) OpenMP barriers make 2 threads ~40x slower than 1
    # (measured: 250 ms vs 6 ms per step on the 2-core dev machine under load). None: leave as is.
    cpu_threads: int | None = 1


# classifying a recording: every slice (the reader waits), queued slices run as multi-step
# forwards, no frames for views (r2etl classify, the timeline, calibration)
OFFLINE = EngineConfig(drop_when_busy=False, queue_slices=64, max_run=32, frames=False)
