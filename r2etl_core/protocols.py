"""Contracts between the pieces: source -> slicer -> engine -> sinks."""

from __future__ import annotations

from typing import Iterator, Protocol, runtime_checkable

from r2etl_core.types import EventBatch, EventSlice, Prediction, SourceInfo, SpikeSnapshot


@runtime_checkable
class Source(Protocol):
    """Produces time-ordered EventBatches. Paced sources sleep to follow event time.

    ``batches()`` yields until the source ends (file end without loop, camera unplugged,
    stream closed) or ``close()`` is called from another thread.
    """

    info: SourceInfo

    def batches(self) -> Iterator[EventBatch]: ...

    def close(self) -> None: ...


class Slicer(Protocol):
    """Cuts a stream of batches into slices. Stateful across calls; ``flush`` ends the stream."""

    def push(self, batch: EventBatch) -> list[EventSlice]: ...

    def flush(self) -> list[EventSlice]: ...

    def reset(self) -> None: ...


class Sink(Protocol):
    """Receives engine output on the engine's worker thread: must return quickly."""

    def on_prediction(self, prediction: Prediction, spikes: SpikeSnapshot) -> None: ...

    def close(self) -> None: ...
