"""The streaming engine: source -> slicer -> bounded queue -> SNN worker -> sinks / views.

Two threads. The reader owns the source, the slicer and binning, and never waits for the
model on live or paced input: when the queue is full the oldest slice is dropped and counted
(``drop_when_busy``). Offline classification and unpaced replays wait instead, so every slice
is classified. The worker steps the queued slices through the inference core (in this
process, or in a model process for the viewer: ``stream.remote``), which owns the neuron state.

Views never wait on the engine: they call ``take_outputs()`` / ``stats()`` on a timer; both
return immediately with copies.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch

from r2etl_core.errors import R2ETLError
from r2etl_core.io.modelfile import ModelMeta
from r2etl_core.nn.device import device_name, pick_device
from r2etl_core.nn.inference import InferenceCore
from r2etl_core.nn.model import R2ETLNet
from r2etl_core.nn.unknown import effective_threshold
from r2etl_core.protocols import Sink, Source
from r2etl_core.stream.meter import EngineMeter
from r2etl_core.stream.slicing import StreamSlicer, bin_to_device, roi_activity
from r2etl_core.types import (BinnedSlice, EngineOutput, EngineStats, EventBatch, EventSlice, FrameSpec,
                              Readout, ResetPolicy, SliceByCount, SliceByTime)

_END = object()
# (sensor width, height) -> a stateful function that filters consecutive batches of that sensor
FilterFactory = Callable[[int, int], Callable[[EventBatch], EventBatch]]


@dataclass(frozen=True)
class EngineConfig:
    queue_slices: int = 4
    max_run: int = 16  # queued slices stepped in one multi-step forward (state carried)
    frames: bool = True  # sensor/model frames in the outputs (views); the CLI needs none
    cuda_graph: bool = True  # on CUDA, replay the step as a captured graph (eager if capture fails)
    precision: str = "fp32"  # "bf16"/"fp16" on CUDA: half the memory traffic (see docs/benchmarks.md)
    model_process: bool = False  # step the network in a child process (the viewer: no GIL contention)
    drop_when_busy: bool = True
    reset: ResetPolicy = ResetPolicy()
    readout: Readout = Readout()
    device: str | None = None  # None: CUDA when present, else CPU
    history: int = 512  # outputs kept for take_outputs() (each holds a sensor-sized frame)
    history_bytes: int = 64 << 20  # and at most this much memory in their frames (a stalled GUI)
    # Batch-1 steps of a small network gain nothing from more intra-op threads, and when the
    # cores are busy (GUI, other jobs) OpenMP barriers make 2 threads ~40x slower than 1
    # (measured: 250 ms vs 6 ms per step on the 2-core dev machine under load). None: leave as is.
    cpu_threads: int | None = 1


class StreamEngine:
    def __init__(self, model: R2ETLNet, meta: ModelMeta, config: EngineConfig = EngineConfig(),
                 model_path: str | Path | None = None):
        """``model_path``: with ``config.model_process``, the file the model process loads."""
        self.meta = meta
        self._detector = meta.unknown_detector()
        self.config = config
        self.device = pick_device(config.device)
        if self.device.type == "cpu" and config.cpu_threads:
            torch.set_num_threads(config.cpu_threads)
        core_args = (meta, self.device, config.reset, config.readout, config.frames, config.cuda_graph,
                     config.precision)
        if config.model_process and model_path is not None:
            from r2etl_core.stream.remote import RemoteCore

            self.core = RemoteCore(model_path, *core_args)
            self.device_label = f"{self.core.device_label}, own process"
        else:
            self.core = InferenceCore(model, *core_args)
            self.device_label = device_name(self.device)
        self._slicing: SliceByTime | SliceByCount = meta.slicing.slicer()
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._queue: collections.deque = collections.deque()
        self._outputs: collections.deque[EngineOutput] = collections.deque(maxlen=config.history)
        self._sinks: list[Sink] = []
        self._taps: list[Callable[[EventBatch], None]] = []
        self._roi: FrameSpec | None = None
        self._user_roi: FrameSpec | None = None
        self._sensor = (0, 0)
        self._source: Source | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._finished = False
        self._error: str | None = None
        self._meter = EngineMeter()
        self._new_slicer = False
        self._filter_factory: FilterFactory | None = None
        self._generation = 0

    # -- wiring ----------------------------------------------------------------------------
    def add_sink(self, sink: Sink) -> None:
        with self._lock:
            self._sinks.append(sink)

    def remove_sink(self, sink: Sink) -> None:
        with self._lock:
            if sink in self._sinks:
                self._sinks.remove(sink)

    def add_event_tap(self, tap: Callable[[EventBatch], None]) -> None:
        """``tap(batch)`` sees every raw batch on the reader thread (e.g. a recorder)."""
        with self._lock:
            self._taps.append(tap)

    def remove_event_tap(self, tap: Callable[[EventBatch], None]) -> None:
        with self._lock:
            if tap in self._taps:
                self._taps.remove(tap)

    # -- control (any thread) ----------------------------------------------------------------
    def start(self, source: Source) -> None:
        """Start streaming ``source``; a running stream is stopped first."""
        self.stop()
        self._stop.clear()
        self._queue.clear()
        self._finished = False
        self._error = None
        self._source = source
        self.core.request_reset()
        self._set_sensor(source.info.width, source.info.height)
        self._threads = [
            threading.Thread(target=self._read_loop, args=(source,), name="r2etl-reader", daemon=True),
            threading.Thread(target=self._work_loop, name="r2etl-model", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._source is not None:
            self._source.close()
        with self._ready:
            self._ready.notify_all()
        for t in self._threads:
            t.join(timeout_s)
        self._threads = []

    def close(self) -> None:
        """Stop, close every sink (a recorder finalises its file here) and the model process."""
        self.stop()
        with self._lock:
            sinks, self._sinks = self._sinks, []
        for sink in sinks:
            sink.close()
        self.core.close()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the source ended and every queued slice was classified (CLI use)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for t in self._threads:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return self._finished

    def request_reset(self) -> None:
        self.core.request_reset()

    def set_reset_policy(self, policy: ResetPolicy) -> None:
        with self._lock:
            self.core.reset_policy = policy

    @property
    def reset_policy(self) -> ResetPolicy:
        return self.core.reset_policy

    def set_readout(self, readout: Readout) -> None:
        """Change how logits become predictions (restarts the network state)."""
        with self._lock:
            if readout != self.core.readout_config:
                self.core.set_readout(readout)

    @property
    def readout(self) -> Readout:
        return self.core.readout_config

    @property
    def unknown_threshold(self) -> float | None:
        """The distance above which slices are "unknown" now (None: off, or no detector)."""
        return effective_threshold(self._detector, self.readout.unknown_threshold)

    def set_event_filter(self, factory: FilterFactory | None) -> None:
        """Filter events before slicing (e.g. dv's background-activity noise filter, built by
        the caller so the engine stays free of dv-processing). Recorders still get raw events."""
        with self._lock:
            self._filter_factory = factory
            self._new_slicer = True

    def discontinuity(self) -> None:
        """The source jumped in time (seek, loop restart): drop the partial slice and every
        queued slice from before the jump, and start the network from rest, as at the start
        of a stream. Slices binned before the jump but queued after it are discarded by
        their generation."""
        with self._ready:
            self._generation += 1
            self._queue = collections.deque(item for item in self._queue if item is _END)
            self._new_slicer = True
            self.core.request_reset()
            self._ready.notify_all()

    def set_slicing(self, slicing: SliceByTime | SliceByCount) -> None:
        with self._lock:
            self._slicing = slicing
            self._new_slicer = True

    @property
    def slicing(self) -> SliceByTime | SliceByCount:
        return self._slicing

    def set_roi(self, roi: FrameSpec | None) -> None:
        """Region of interest in sensor pixels (None: centred square). Takes effect next slice."""
        with self._lock:
            self._user_roi = roi
            self._roi = self._fit_roi(*self._sensor)

    @property
    def roi(self) -> FrameSpec | None:
        return self._roi

    def take_outputs(self) -> list[EngineOutput]:
        """Every output since the last call (at most ``history_for`` the sensor), oldest first."""
        with self._lock:
            out = list(self._outputs)
            self._outputs.clear()
        return out

    def stats(self) -> EngineStats:
        with self._lock:  # copy under the lock, compute outside it: the worker needs it
            raw = self._meter.copy()
            sensor, roi = self._sensor, self._roi
        source = self._source
        return EngineStats(
            **EngineMeter.snapshot(raw),
            device=self.device_label + (f" · {self.core.step_label}" if self.device.type == "cuda" else ""),
            running=any(t.is_alive() for t in self._threads),
            finished=self._finished, error=self._error, sensor=sensor, roi=roi,
            input_lost=source.end_reason if source is not None else None)

    # -- threads ---------------------------------------------------------------------------
    def history_for(self, width: int, height: int) -> int:
        """Outputs kept between two ``take_outputs`` calls for a sensor of this size."""
        frame_bytes = 2 * width * height * 2 + 4096  # uint16 ON/OFF counts + the rest
        return max(8, min(self.config.history, self.config.history_bytes // frame_bytes))

    def _set_sensor(self, width: int, height: int) -> None:
        with self._lock:
            keep = self.history_for(width, height)
            if keep != self._outputs.maxlen:
                self._outputs = collections.deque(self._outputs, maxlen=keep)
            self._sensor = (width, height)
            self._roi = self._fit_roi(width, height)

    def _fit_roi(self, width: int, height: int) -> FrameSpec | None:
        if not width or not height:
            return None
        size = self.meta.config.input_size
        if self._user_roi is None:
            return FrameSpec.centred(width, height, size)
        return replace(self._user_roi, out_size=size).clamped(width, height)

    def _read_loop(self, source: Source) -> None:
        slicer, event_filter = StreamSlicer(self._slicing), None
        self._new_slicer = True
        batches = iter(source.batches())
        try:
            last = time.perf_counter()
            while not self._stop.is_set():
                generation = self._generation  # before the read: a seek may land during it
                batch = next(batches, None)
                if batch is None or self._stop.is_set():
                    break
                read_s = time.perf_counter() - last
                slicer, event_filter = self._prepare(batch, slicer, event_filter)
                for tap in list(self._taps):
                    tap(batch)  # recorders get every raw event, even those a seek discards
                with self._lock:
                    self._meter.count_events(len(batch))
                    stale = generation != self._generation
                if stale:  # read before a seek: none of it, nor the partial slice, is used
                    self._new_slicer = True
                    continue
                if event_filter is not None:
                    batch = event_filter(batch)
                self._enqueue(slicer.push(batch, read_s), generation)
                last = time.perf_counter()
            if not self._stop.is_set():
                self._enqueue(slicer.flush(), self._generation)
        except R2ETLError as exc:
            self._error = str(exc)
        except Exception as exc:  # a dying source must not take the app down; report it
            self._error = f"{source.info.name}: {type(exc).__name__}: {exc}"
        finally:
            with self._ready:
                self._queue.append(_END)
                self._ready.notify_all()

    def _prepare(self, batch: EventBatch, slicer: StreamSlicer, event_filter):
        """A fresh slicer (and noise filter) when the sensor, slicing, filter or position changed."""
        if (batch.width, batch.height) != self._sensor:
            self._set_sensor(batch.width, batch.height)
            self.core.request_reset()
            self._new_slicer = True
        with self._lock:
            renew, self._new_slicer = self._new_slicer, False
            slicing, factory = self._slicing, self._filter_factory
        if renew:
            slicer = StreamSlicer(slicing)
            event_filter = factory(batch.width, batch.height) if factory else None
        return slicer, event_filter

    def _enqueue(self, slices: list[EventSlice], generation: int) -> None:
        if not slices:
            return
        spec = self._roi or FrameSpec.centred(slices[0].events.width, slices[0].events.height,
                                              self.meta.config.input_size)
        frames, bin_s, transfer_s = bin_to_device(slices, spec, self.device)
        activity = [roi_activity(sl.events, spec) for sl in slices]
        share = 1.0 / len(slices)
        now = time.monotonic()
        with self._ready:
            if generation != self._generation:
                return  # binned before a seek: these events belong to the old position
            drop = self._may_drop()
            for sl, frame, (excess, noise_sd) in zip(slices, frames, activity):
                if drop:
                    while len(self._queue) >= self.config.queue_slices:
                        self._queue.popleft()  # oldest first: the newest view of the world wins
                        self._meter.dropped += 1
                else:
                    while len(self._queue) >= self.config.queue_slices and not self._stop.is_set():
                        self._ready.wait(0.1)
                self._queue.append(BinnedSlice(sl, frame, now, bin_s * share, transfer_s * share,
                                               generation, excess, noise_sd))
            self._ready.notify_all()

    def _may_drop(self) -> bool:
        """Drop the oldest slices when busy for live and paced inputs (the newest view of the
        world wins); an unpaced replay ("max" speed) waits for the model instead."""
        playback = self._source.playback if self._source is not None else None
        return self.config.drop_when_busy and not (playback is not None and playback.speed is None)

    def _take_run(self) -> list | None:
        """The queued slices of the current generation, up to ``max_run`` (one multi-step
        forward), or [_END]; None when stopped. Caller holds no lock."""
        with self._ready:
            while not self._queue and not self._stop.is_set():
                self._ready.wait(0.1)
            if self._stop.is_set():
                return None
            run = []
            while self._queue and len(run) < self.config.max_run:
                item = self._queue[0]
                if item is _END:
                    if not run:
                        run.append(self._queue.popleft())
                    break
                self._queue.popleft()
                if item.generation == self._generation:
                    run.append(item)
            self._ready.notify_all()
            return run

    def _work_loop(self) -> None:
        while True:
            run = self._take_run()
            if run is None:
                return
            if run and run[0] is _END:
                self._finished = self._error is None
                return
            if not run:
                continue  # all queued before a seek
            try:
                outs = self.core.step_many(run)
            except Exception as exc:  # keep the app alive; show the problem
                self._error = f"model step failed: {type(exc).__name__}: {exc}"
                self._stop.set()
                return
            with self._lock:
                if run[0].generation != self._generation:
                    continue  # a seek landed during the step: its answers are about the past
                for out in outs:
                    self._outputs.append(out)
                    self._meter.count_prediction(out.prediction)
                sinks = list(self._sinks)
            for out in outs:
                for sink in sinks:
                    sink.on_prediction(out.prediction, out.spikes)
