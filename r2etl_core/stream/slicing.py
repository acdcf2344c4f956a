"""Slicing a stream of events into slices, and binning a slice into a 2-channel count frame.

Parameters are frozen dataclasses; the work is done by pure functions (``frame_index``,
``bin_slices``) and one small stateful ``StreamSlicer`` that carries the partial slice.
In this module ``slicing`` is how a stream is cut (``SliceByTime``/``SliceByCount``) and
``spec`` is where a slice's events land in the model's frame (``FrameSpec``).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from r2etl_core.stream.settings import noise_filter_factory
from r2etl_core.types import BinnedSlice, EventBatch, EventSlice, FrameSpec, SliceByCount, SliceByTime


class StreamSlicer:
    """Cuts batches into consecutive slices. Time slices sit on a grid of ``slice_us`` from
    t = 0, so the same recording always gives the same slices. A silent gap yields empty slices
    (the network's state decays through them), at most ``max_empty_slices`` per gap."""

    def __init__(self, slicing: SliceByTime | SliceByCount, max_empty_slices: int = 8):
        self.slicing = slicing
        self.max_empty_slices = max_empty_slices
        self._pending: list[EventBatch] = []
        self._slice_start: int | None = None  # start of the slice being filled (time slicing)
        self._size = (0, 0)
        self._read_s = 0.0

    def reset(self) -> None:
        self._pending, self._slice_start, self._read_s = [], None, 0.0

    def push(self, batch: EventBatch, read_s: float = 0.0) -> list[EventSlice]:
        if batch.width and (batch.width, batch.height) != self._size:
            if self._size != (0, 0):
                self.reset()  # sensor changed (source switch): old partial slice is meaningless
            self._size = (batch.width, batch.height)
        self._read_s += read_s
        if len(batch) == 0:
            return []
        if isinstance(self.slicing, SliceByCount):
            return self._push_count(batch)
        return self._push_time(batch)

    def flush(self) -> list[EventSlice]:
        """End of stream: emit the last partial slice, if it holds events."""
        pending = EventBatch.concat(self._pending, *self._size)
        out: list[EventSlice] = []
        if len(pending):
            if isinstance(self.slicing, SliceByTime):
                start = self._slice_start if self._slice_start is not None else pending.t_first_us
                out.append(EventSlice(start, start + self.slicing.slice_us, pending, self._read_s))
            else:
                out.append(EventSlice(pending.t_first_us, pending.t_last_us + 1, pending, self._read_s))
        self.reset()
        return out

    def _push_time(self, batch: EventBatch) -> list[EventSlice]:
        """Complete slices, in time order: every slice holding events, and after each (and
        at the start) at most ``max_empty_slices`` empty ones. Which slices to emit is worked
        out from the events, not by walking the grid, so a gap of days (or a timestamp with a
        flipped high bit) costs what its events cost, not one step per slice."""
        w = self.slicing.slice_us
        if self._slice_start is None:
            self._slice_start = (batch.t_first_us // w) * w
        pending = EventBatch.concat(self._pending + [batch], *self._size) if self._pending else batch
        start = self._slice_start
        complete = int((pending.t_last_us - start) // w)  # slices 0 .. complete-1 have ended
        emitted = emitted_slices((pending.t - start) // w, complete, self.max_empty_slices)
        ends = start + w * (emitted + 1)
        cuts = np.searchsorted(pending.t, ends, side="left")
        out: list[EventSlice] = []
        lo = 0
        for end, hi in zip(ends.tolist(), cuts.tolist()):
            out.append(EventSlice(end - w, end, pending.select(slice(lo, hi)), self._read_s))
            self._read_s = 0.0
            lo = hi
        self._slice_start = start + w * max(complete, 0)
        self._pending = [pending.select(slice(lo, None))] if lo < len(pending) else []
        return out

    def _push_count(self, batch: EventBatch) -> list[EventSlice]:
        n = self.slicing.events_per_slice
        pending = EventBatch.concat(self._pending + [batch], *self._size) if self._pending else batch
        out = []
        full = len(pending) // n
        for i in range(full):
            part = pending.select(slice(i * n, (i + 1) * n))
            out.append(EventSlice(part.t_first_us, part.t_last_us + 1, part, self._read_s))
            self._read_s = 0.0
        self._pending = [pending.select(slice(full * n, None))] if full * n < len(pending) else []
        return out


def emitted_slices(slice_of_event: np.ndarray, complete: int, max_empty: int) -> np.ndarray:
    """Sorted indices of the slices to emit among ``0 .. complete-1``: those holding an event
    (``slice_of_event``, sorted), and the first ``max_empty`` after each one and after -1."""
    if complete <= 0:
        return np.zeros(0, dtype=np.int64)
    occupied = np.unique(slice_of_event[slice_of_event < complete])
    anchors = np.concatenate((np.array([-1], dtype=np.int64), occupied))
    after = (anchors[:, None] + np.arange(1, max_empty + 1, dtype=np.int64)[None, :]).ravel()
    return np.union1d(occupied, after[(after >= 0) & (after < complete)]).astype(np.int64)


def frame_index(events: EventBatch, spec: FrameSpec, group: np.ndarray | None = None) -> np.ndarray:
    """Flat index ``p * S*S + y_out * S + x_out`` of every event inside the ROI (int32).

    With ``group`` (one int per event, e.g. the slice it belongs to) the index is offset by
    ``group * 2*S*S`` so one bincount bins many slices at once. int32 halves the memory
    traffic of the hot path."""
    s, r = spec.out_size, spec.roi_size
    x = events.x.astype(np.int32)
    y = events.y.astype(np.int32)
    p = events.p
    covers_sensor = (spec.roi_x == 0 and spec.roi_y == 0 and r >= events.width and r >= events.height)
    if not covers_sensor:
        x -= spec.roi_x
        y -= spec.roi_y
        inside = (x >= 0) & (x < r) & (y >= 0) & (y < r)
        if not inside.all():
            x, y, p = x[inside], y[inside], p[inside]
            group = None if group is None else group[inside]
    if r != s:
        x = (x * s) // r
        y = (y * s) // r
    # channel 0 = ON, channel 1 = OFF
    index = (p == 0).astype(np.int32) * (s * s) + y * s + x
    if group is not None:
        index += group.astype(np.int32) * (2 * s * s)
    return index


def slices_index(slices: list[EventSlice], spec: FrameSpec) -> np.ndarray:
    """One flat index for all ``slices`` (slice k offset by k * 2*S*S): see ``bin_slices``."""
    counts = np.fromiter((len(sl.events) for sl in slices), np.int64, len(slices))
    events = EventBatch.concat([sl.events for sl in slices], slices[0].events.width, slices[0].events.height)
    return frame_index(events, spec, np.repeat(np.arange(len(slices), dtype=np.int32), counts))


def bin_slices(index: torch.Tensor, n_slices: int, spec: FrameSpec) -> torch.Tensor:
    """``[n, 2, S, S]`` float32 count frames from ``slices_index`` output, on ``index``'s
    device: one bincount for a whole read batch instead of one per slice (per-slice calls
    cost more than the counting itself on sparse streams such as N-MNIST)."""
    s = spec.out_size
    bins = n_slices * 2 * s * s
    if index.device.type == "cpu":
        # numpy's single-threaded bincount: ~3x faster than torch's on the CPU and immune to
        # thread oversubscription when the model's threads are busy
        counts = torch.from_numpy(np.bincount(index.numpy(), minlength=bins).astype(np.float32))
    else:
        counts = torch.bincount(index, minlength=bins).to(torch.float32)
    counts = counts.view(n_slices, 2, s, s)
    if spec.scale_counts and spec.roi_size != s:
        counts *= (s / spec.roi_size) ** 2
    return counts


def bin_steps_numpy(events: EventBatch, step: np.ndarray, steps: int, spec: FrameSpec) -> np.ndarray:
    """CPU: ``[steps, 2, S, S]`` float32 counts, event i counted in frame ``step[i]`` (each in
    ``0 .. steps-1``); the same index and scaling as ``bin_slices`` (training frames)."""
    s = spec.out_size
    counts = np.bincount(frame_index(events, spec, step), minlength=steps * 2 * s * s)
    counts = counts.astype(np.float32).reshape(steps, 2, s, s)
    if spec.scale_counts and spec.roi_size != s:
        counts *= (s / spec.roi_size) ** 2
    return counts


def bin_events_numpy(events: EventBatch, spec: FrameSpec) -> np.ndarray:
    """CPU convenience: ``[2, S, S]`` float32 counts of ``events`` (tests, scripts)."""
    return bin_steps_numpy(events, np.zeros(len(events), np.int32), 1, spec)[0]


def sensor_frame(events: EventBatch) -> np.ndarray:
    """``[2, H, W]`` uint16 ON/OFF counts over the whole sensor (for display)."""
    w, h = events.width, events.height
    idx = (events.p == 0).astype(np.int32) * (w * h) + events.y.astype(np.int32) * w + events.x
    counts = np.bincount(idx, minlength=2 * w * h)[: 2 * w * h]
    return np.minimum(counts, 65535).astype(np.uint16).reshape(2, h, w)


def bin_to_device(slices: list[EventSlice], spec: FrameSpec,
                  device: torch.device) -> tuple[torch.Tensor, float, float]:
    """Frames ``[n, 2, S, S]`` of consecutive slices on ``device``: the flat index crosses to
    the device once for all of them (pinned and non-blocking on CUDA) and one bincount counts
    them all. Returns (frames, binning seconds, transfer seconds)."""
    t0 = time.perf_counter()
    index = torch.from_numpy(slices_index(slices, spec))
    t1 = time.perf_counter()
    if device.type == "cuda":
        index = index.pin_memory()
    index = index.to(device, non_blocking=True)
    t2 = time.perf_counter()
    frames = bin_slices(index, len(slices), spec)
    return frames, (t1 - t0) + (time.perf_counter() - t2), t2 - t1


def binned_offline(slices: list[EventSlice], spec: FrameSpec, device: torch.device) -> list[BinnedSlice]:
    """``slices`` binned with their ROI activity, as the engine's reader thread queues them
    (without its timings): for stepping an ``InferenceCore`` directly (calibration, benchmarks)."""
    frames, _, _ = bin_to_device(slices, spec, device)
    return [BinnedSlice(sl, frame, 0.0, 0.0, 0.0, activity=act, noise_sd=sd)
            for sl, frame, (act, sd) in zip(slices, frames, (roi_activity(sl.events, spec) for sl in slices))]


def roi_activity(events: EventBatch, spec: FrameSpec) -> tuple[float, float]:
    """(events in the ROI above a uniform noise floor, that floor's standard deviation).

    Background activity fires every pixel independently (Poisson), so its events rarely hit
    the same pixel twice in one slice, while an object's edges make the pixels they cross
    fire several times. The floor is estimated from the slice itself: the fraction of ROI
    pixels that stayed silent gives the Poisson rate ``lam = -ln(silent / pixels)`` that
    explains them, and ``pixels * lam`` events are what uniform noise alone would produce.
    What is left is activity no noise level can explain; for pure noise it is 0 give or take
    ``sqrt(pixels * lam^2 / 2)`` (the spread of the repeat count), the returned deviation.
    """
    r = spec.roi_size
    x = events.x.astype(np.int32) - spec.roi_x
    y = events.y.astype(np.int32) - spec.roi_y
    inside = (x >= 0) & (x < r) & (y >= 0) & (y < r)
    n = int(np.count_nonzero(inside))
    if n == 0:
        return 0.0, 0.0
    pixels = r * r
    active = int(np.count_nonzero(np.bincount(y[inside] * r + x[inside], minlength=pixels)))
    lam = -np.log(max(pixels - active, 0.5) / pixels)
    return float(n - pixels * lam), float(np.sqrt(pixels * lam * lam / 2.0))


class SliceCutter:
    """A stream's slicer and noise filter on the engine's reader thread: renewed when the
    slicing or the filter changes, and when asked (``renew``: a seek, another sensor)."""

    def __init__(self, meta):
        self.meta = meta  # ModelMeta: a slicing left at None follows the model
        self.settings = None  # StreamSettings the current slicer cuts with
        self.renew = True
        self._slicer: StreamSlicer | None = None
        self._filter = None

    def cut(self, batch: EventBatch, settings, read_s: float = 0.0) -> list[EventSlice]:
        if self.renew or not settings.same_cut(self.settings):
            self._slicer = StreamSlicer(settings.slicing_for(self.meta))
            factory = noise_filter_factory(settings.denoise_us)
            self._filter = factory(batch.width, batch.height) if factory else None
            self.renew = False
        self.settings = settings
        if self._filter is not None:
            batch = self._filter(batch)
        return self._slicer.push(batch, read_s)

    def flush(self) -> list[EventSlice]:
        return self._slicer.flush() if self._slicer is not None else []

