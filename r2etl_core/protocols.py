"""Contracts between the pieces: source -> slicer -> engine -> sinks.

``Source`` is what every input is (file, N-MNIST folder, camera, network stream). A source
that replays a timeline also offers ``Playback``; the app asks ``source.playback`` instead of
probing attributes, and gets None for live inputs.
"""

from __future__ import annotations

from typing import Iterator, Protocol, Sequence, runtime_checkable

from r2etl_core.types import EventBatch, Prediction, SourceInfo, SpikeSnapshot


class SeekMark:
    """Yielded in band by ``Source.batches()`` where a replay jumped in time: the engine drops
    the partial slice and what is still queued, and the network starts from rest."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "SEEK"


SEEK = SeekMark()


class LabelledSpan(Protocol):
    """A labelled time span ``[start_us, end_us)`` (``r2etl_core.io.labels.LabelSegment``)."""

    start_us: int
    end_us: int
    label: str


@runtime_checkable
class Playback(Protocol):
    """Controls of a replayed timeline; any thread may call them while another iterates."""

    @property
    def paused(self) -> bool: ...

    @property
    def speed(self) -> float | None: ...  # None: as fast as the consumer takes it

    @property
    def loop(self) -> bool: ...

    @property
    def position_us(self) -> int: ...  # recording time of the last event, us after its start

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def set_speed(self, speed: float | None) -> None: ...

    def set_loop(self, loop: bool) -> None: ...

    def seek(self, t_us: int) -> None: ...

    def recording_time_us(self, stream_t_us: int) -> int: ...  # undoes loop/seek time shifts


@runtime_checkable
class Source(Protocol):
    """Produces time-ordered EventBatches. Paced sources sleep to follow event time.

    ``batches()`` yields until the source ends (file end without loop, camera unplugged,
    stream closed) or ``close()`` is called from another thread. ``end_reason`` says why a
    live input stopped on its own ("camera DXA00093 disconnected"); None while it runs, after
    ``close()`` and at a file's normal end. A replay that jumps (a seek) yields ``SEEK`` first:
    everything before it is from before the jump, everything after from after it.
    ``segments`` is ground truth the input carries itself (N-MNIST folders); a recording's
    labels sidecar is read by the pipeline.
    """

    info: SourceInfo
    playback: Playback | None
    segments: Sequence[LabelledSpan]

    def batches(self) -> Iterator[EventBatch | SeekMark]: ...

    def close(self) -> None: ...

    def camera_frames(self) -> object | None: ...  # io.aps_frames.CameraFrames of a live DAVIS

    @property
    def end_reason(self) -> str | None: ...


class Sink(Protocol):
    """Receives engine output on the engine's worker thread: must return quickly."""

    def on_prediction(self, prediction: Prediction, spikes: SpikeSnapshot) -> None: ...

    def close(self) -> None: ...
