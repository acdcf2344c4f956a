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
from dataclasses import replace
from pathlib import Path
from typing import Callable

import torch

from r2etl_core.errors import R2ETLError
from r2etl_core.nn.device import pick_device
from r2etl_core.nn.inference import CoreConfig
from r2etl_core.nn.meta import ModelMeta
from r2etl_core.nn.model import R2ETLNet
from r2etl_core.nn.unknown import effective_threshold
from r2etl_core.protocols import SeekMark, Sink, Source
from r2etl_core.stream.meter import EngineMeter
from r2etl_core.stream.remote import make_core
from r2etl_core.stream.settings import EngineConfig, StreamSettings
from r2etl_core.stream.slice_queue import END, SEEK, ModelSwap, SliceQueue
from r2etl_core.stream.slicing import SliceCutter, bin_to_device, roi_activity, sensor_frame
from r2etl_core.types import (BinnedSlice, EngineOutput, EngineStats, EventBatch, EventSlice, FrameSpec,
                              Readout, ResetPolicy, SliceByCount, SliceByTime)


class StreamEngine:
    """Mutators: ``configure(settings)``, ``start(source)``, ``stop()``, ``request_reset()``
    (plus the sinks and taps that outputs and raw events go to). A seek is not one of them: it
    arrives in band from the source."""

    def __init__(self, model: R2ETLNet, meta: ModelMeta, config: EngineConfig = EngineConfig(),
                 model_path: str | Path | None = None, settings: StreamSettings = StreamSettings()):
        """``model_path``: with ``config.model_process``, the file the model process loads."""
        self.meta = meta
        self._detector = meta.unknown_detector()
        self.config = config
        self.device = pick_device(config.device)
        if self.device.type == "cpu" and config.cpu_threads:
            torch.set_num_threads(config.cpu_threads)
        core_config = CoreConfig(str(self.device), settings.reset, settings.readout, config.frames,
                                 config.cuda_graph, config.precision)
        self.core, self.device_label = make_core(model, meta, core_config,
                                                 model_path if config.model_process else None)
        self._settings = settings
        self._model_settings = settings  # what the core steps with (the worker's copy)
        self._lock = threading.Lock()
        self._queue = SliceQueue(config.queue_slices, config.max_run)
        self._outputs: collections.deque[EngineOutput] = collections.deque(maxlen=config.history)
        self._sinks: list[Sink] = []
        self._taps: list = []  # callables(EventBatch) on the reader thread
        self._sensor = (0, 0)
        self._source: Source | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._done = threading.Event()  # the worker has exited (input ended, failed, or stopped)
        self._done.set()
        self._finished = False
        self._error: str | None = None
        self._meter = EngineMeter()
        self._jumped = False  # a seek mark was stepped past: the next output is flagged
        self._incoming: tuple | None = None  # a model to switch to at the reader's next batch (adopt)

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
    def configure(self, settings: StreamSettings) -> None:
        """The one door for what a user changes while streaming: the reader cuts with
        ``settings`` from its next batch, and the model applies their reset policy and readout
        from the first slice cut under them (a new readout restarts the state)."""
        with self._lock:
            self._settings = settings

    @property
    def settings(self) -> StreamSettings:
        return self._settings

    def start(self, source: Source) -> None:
        """Start streaming ``source``; a running stream is stopped first."""
        self.stop()
        self._stop.clear()
        self._done.clear()
        self._queue.open()
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
        self._queue.close()
        for t in self._threads:
            t.join(timeout_s)
        self._threads = []

    def request_reset(self) -> None:
        """Start the network from rest at the next slice."""
        self.core.request_reset()

    def adopt(self, other: "StreamEngine") -> None:
        """Run ``other``'s model (built off this thread: a model process takes seconds to start)
        from here on, without stopping the input: in band, the reader cuts for the new model
        from its next batch, what is still queued is dropped, the model thread switches at the
        mark and starts from rest, and its first output is flagged ``jumped``. ``other`` is
        spent."""
        incoming = (other.core, other.meta, other._detector, other.device_label)
        other.core = None
        with self._lock:
            streaming = any(t.is_alive() for t in self._threads)
            if streaming:
                self._incoming = incoming
        if not streaming:
            self._switch(ModelSwap(*incoming))

    def close(self) -> None:
        """Stop, close every sink (a recorder finalises its file here) and the model process."""
        self.stop()
        with self._lock:
            sinks, self._sinks = self._sinks, []
        for sink in sinks:
            sink.close()
        if self.core is not None:  # None: adopted by another engine
            self.core.close()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the engine stopped: the input ended and every queued slice was
        classified (``stats().finished``), it failed (``stats().error``), or ``stop()``.
        False when ``timeout_s`` passed first."""
        return self._done.wait(timeout_s)

    # -- reads (any thread; never block on the model) -------------------------------------------
    @property
    def reset_policy(self) -> ResetPolicy:
        return self._settings.reset

    @property
    def readout(self) -> Readout:
        return self._settings.readout

    @property
    def slicing(self) -> SliceByTime | SliceByCount:
        return self._settings.slicing_for(self.meta)

    @property
    def unknown_threshold(self) -> float | None:
        """The distance above which slices are "unknown" now (None: off, or no detector)."""
        return effective_threshold(self._detector, self.readout.unknown_threshold)

    @property
    def roi(self) -> FrameSpec | None:
        """The model's square in sensor pixels for the current sensor and settings."""
        return self._fit_roi(self._settings.roi, *self._sensor)

    def take_outputs(self) -> list[EngineOutput]:
        """Every output since the last call (at most ``history_for`` the sensor), oldest first."""
        with self._lock:
            out = list(self._outputs)
            self._outputs.clear()
        return out

    def stats(self) -> EngineStats:
        with self._lock:  # copy under the lock, compute outside it: the worker needs it
            raw = self._meter.copy()
            sensor = self._sensor
        source = self._source
        return EngineStats(
            **EngineMeter.snapshot(raw),
            device=self.device_label + (f" · {self.core.step_label}" if self.device.type == "cuda" else ""),
            running=any(t.is_alive() for t in self._threads),
            finished=self._finished, error=self._error, sensor=sensor, roi=self.roi,
            input_lost=source.end_reason if source is not None else None)

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

    def _fit_roi(self, roi: FrameSpec | None, width: int, height: int) -> FrameSpec | None:
        if not width or not height:
            return None
        size = self.meta.config.input_size
        if roi is None:
            return FrameSpec.centred(width, height, size)
        return replace(roi, out_size=size).clamped(width, height)

    # -- the reader thread ----------------------------------------------------------------------
    def _read_loop(self, source: Source) -> None:
        cutter = SliceCutter(self.meta)
        try:
            last = time.perf_counter()
            for batch in source.batches():
                if self._stop.is_set():
                    break
                if isinstance(batch, SeekMark):
                    cutter.renew = True  # the partial slice belongs to the old position
                    self._queue.mark(SEEK)
                    continue
                read_s = time.perf_counter() - last
                for tap in list(self._taps):
                    tap(batch)  # recorders get every raw event
                with self._lock:
                    self._meter.count_events(len(batch))
                if self._incoming is not None:
                    cutter = self._take_incoming(cutter)
                if (batch.width, batch.height) != self._sensor:
                    self._set_sensor(batch.width, batch.height)
                    self.core.request_reset()
                    cutter.renew = True
                settings = self._settings
                self._enqueue(cutter.cut(batch, settings, read_s), settings)
                last = time.perf_counter()
            if not self._stop.is_set():
                self._enqueue(cutter.flush(), cutter.settings)
        except R2ETLError as exc:
            self._error = str(exc)
        except Exception as exc:  # a dying source must not take the app down; report it
            self._error = f"{source.info.name}: {type(exc).__name__}: {exc}"
        finally:
            self._queue.mark(END)

    def _take_incoming(self, cutter: SliceCutter) -> SliceCutter:
        """A model to switch to (reader thread): cut for it from here on; the mark goes in band."""
        with self._lock:
            swap, self._incoming = ModelSwap(*self._incoming), None
        self.meta = swap.meta
        self._queue.mark(swap)
        return SliceCutter(swap.meta)

    def _switch(self, swap: "ModelSwap") -> None:
        """The model thread (or no thread running) takes the new model; the old one is closed
        off this thread (a model process takes a moment to end)."""
        old, self.core = self.core, swap.core
        self.meta, self._detector, self.device_label = swap.meta, swap.detector, swap.device_label
        self._model_settings = None  # the new core gets the settings with its first run
        self._jumped = True
        self.core.request_reset()
        if old is not None:
            threading.Thread(target=old.close, name="r2etl-old-model", daemon=True).start()

    def _enqueue(self, slices: list[EventSlice], settings: StreamSettings) -> None:
        if not slices:
            return
        spec = self._fit_roi(settings.roi, slices[0].events.width, slices[0].events.height)
        frames, bin_s, transfer_s = bin_to_device(slices, spec, self.device)
        share, now = 1.0 / len(slices), time.monotonic()
        items = [BinnedSlice(sl, frame, now, bin_s * share, transfer_s * share, settings,
                             *roi_activity(sl.events, spec)) for sl, frame in zip(slices, frames)]
        playback = self._source.playback if self._source is not None else None
        # live and paced inputs drop the oldest slices when the model is busy (the newest view
        # of the world wins); an unpaced replay ("max" speed) waits for the model instead
        drop = self.config.drop_when_busy and not (playback is not None and playback.speed is None)
        dropped = self._queue.put(items, drop)
        if dropped:
            with self._lock:
                self._meter.dropped += dropped

    # -- the model thread -----------------------------------------------------------------------
    def _work_loop(self) -> None:
        try:
            while (run := self._queue.take()) is not None:
                if run is END:
                    self._finished = self._error is None
                    return
                if run is SEEK:
                    self.core.request_reset()  # from rest, as at the start of a stream
                    self._jumped = True  # and the next output says so
                    continue
                if isinstance(run, ModelSwap):
                    self._switch(run)
                    continue
                if not self._step(run):
                    return
        finally:
            self._done.set()

    def _step(self, run: list[BinnedSlice]) -> bool:
        settings = run[0].settings
        if settings is not self._model_settings:
            self.core.configure(settings.reset, settings.readout)
            self._model_settings = settings
        try:
            outs = self.core.step_many(run)
        except Exception as exc:  # keep the app alive; show the problem
            self._error = f"model step failed: {type(exc).__name__}: {exc}"
            self._stop.set()
            return False
        if self.config.frames:  # drawn here, once, from the events (a model process has none)
            outs = [replace(out, sensor_frame=sensor_frame(item.slice.events)) for out, item in zip(outs, run)]
        if self._jumped and outs:
            outs[0], self._jumped = replace(outs[0], jumped=True), False
        with self._lock:
            for out in outs:
                self._outputs.append(out)
                self._meter.count_prediction(out.prediction)
            sinks = list(self._sinks)
        for out in outs:
            for sink in sinks:
                sink.on_prediction(out.prediction, out.spikes)
        return True

