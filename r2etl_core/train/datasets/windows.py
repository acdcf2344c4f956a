"""Training windows cut from labelled recordings, binned exactly as the live engine bins.

A window is T consecutive slices of ``slice_us`` lying wholly inside one labelled segment.
Slices sit on the engine's grid (absolute multiples of ``slice_us``, as ``StreamSlicer`` cuts a
stream), and are binned by ``bin_to_device`` with the engine's ``FrameSpec`` (the centred
square resized to the model's input, unless ``roi`` says otherwise): a window's frames are
the very arrays the viewer feeds the model for those 30 ms, ON in channel 0. Nothing is
resampled with another interpolation, so what the network learns is what it will see.

Only events inside windows are kept in memory (a long recording's unlabelled stretches are
skipped as they are read), and the frames are cached on disk like the other datasets', as
float32 (not float16 like those): a window scaled from a larger ROI holds fractional counts
that float16 would round, and then the frames would no longer be the engine's.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from r2etl_core.errors import InputError, R2ETLWarning
from r2etl_core.io.eventfiles import open_event_file
from r2etl_core.io.labels import LabelSegment
from r2etl_core.limits import check_frames_fit
from r2etl_core.stream.slicing import bin_to_device
from r2etl_core.train.datasets.events import EventSet
from r2etl_core.train.datasets.frames import fill_cache
from r2etl_core.train.datasets.recordings import Recording, RecordingSet
from r2etl_core.types import EventBatch, EventSlice, FrameSpec


@dataclass(frozen=True)
class WindowParams:
    time_steps: int  # T slices per window (the model's T)
    slice_us: int
    stride_slices: int  # a new window every this many slices inside a segment
    out_size: int  # the model's input size
    roi: tuple[int, int, int] | None = None  # x, y, size in sensor pixels; None: the centred square

    def frame_spec(self, width: int, height: int) -> FrameSpec:
        """The engine's ``FrameSpec`` for a ``width`` x ``height`` sensor (see ``StreamEngine._fit_roi``)."""
        if self.roi is None:
            return FrameSpec.centred(width, height, self.out_size)
        x, y, size = self.roi
        if x + size > width or y + size > height:
            raise InputError("data.roi", f"{x},{y},{size} does not fit the {width}x{height} sensor")
        return FrameSpec(x, y, size, self.out_size)


def window_starts(seg: LabelSegment, params: WindowParams) -> list[int]:
    """Start times of the windows inside ``seg``: on the slice grid, ``stride_slices`` apart."""
    w, t = params.slice_us, params.time_steps
    first = -(-seg.start_us // w) * w  # the first grid line at or after the segment's start
    slices = max(0, (seg.end_us - first) // w)
    if slices < t:
        return []
    return [first + k * params.stride_slices * w for k in range((slices - t) // params.stride_slices + 1)]


def plan(rec: Recording, params: WindowParams, class_names: tuple[str, ...]) -> tuple[list[int], list[int]]:
    """(window starts, class indices) of one recording; a segment too short for one window is
    an error (it would silently teach nothing), as is a label outside ``class_names``."""
    starts: list[int] = []
    labels: list[int] = []
    for seg in rec.segments:
        if seg.label not in class_names:
            raise InputError(rec.sidecar, f"label '{seg.label}' is not one of the classes {list(class_names)}")
        found = window_starts(seg, params)
        if not found:
            w = params.slice_us / 1000
            raise InputError(rec.sidecar, f"segment '{seg.label}' [{seg.start_us}, {seg.end_us}) is "
                                          f"{(seg.end_us - seg.start_us) / 1000:g} ms, shorter than one window "
                                          f"({params.time_steps} slices of {w:g} ms on the {w:g} ms grid: label "
                                          f"at least {(params.time_steps + 1) * w:g} ms, or lower data.time_steps)")
        starts += found
        labels += [class_names.index(seg.label)] * len(found)
    return starts, labels


def merged_spans(starts: list[int], length_us: int) -> list[tuple[int, int]]:
    """The union of ``[s, s + length_us)`` over sorted ``starts``, as disjoint sorted spans."""
    spans: list[tuple[int, int]] = []
    for s in sorted(starts):
        if spans and s <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], s + length_us))
        else:
            spans.append((s, s + length_us))
    return spans


def read_spans(path: Path, spans: list[tuple[int, int]]) -> EventBatch:
    """Events of ``path`` inside the sorted, disjoint ``[start, end)`` spans, read in one pass
    that stops after the last span."""
    edges = np.asarray([v for span in spans for v in span], np.int64)
    reader = open_event_file(path)
    parts: list[EventBatch] = []
    try:
        for batch in reader.batches(spans[0][0]):
            if len(batch):
                parts.append(batch.select(np.searchsorted(edges, batch.t, side="right") % 2 == 1))
                if batch.t_last_us >= spans[-1][1]:
                    break
        events = EventBatch.concat(parts, reader.info.width, reader.info.height)
    finally:
        reader.close()
    if len(events) > 1 and np.any(np.diff(events.t) < 0):
        events = events.select(np.argsort(events.t, kind="stable"))
    return events


def bin_windows(events: EventBatch, starts: list[int], params: WindowParams, spec: FrameSpec) -> np.ndarray:
    """``[N, T, 2, S, S]`` float32 frames of the windows at ``starts``: every grid slice is
    binned once (overlapping windows share slices) by the engine's ``bin_to_device``."""
    t, w = params.time_steps, params.slice_us
    grid = np.unique((np.asarray(starts, np.int64)[:, None] + w * np.arange(t)[None, :]).ravel())
    lo = np.searchsorted(events.t, grid, side="left")
    hi = np.searchsorted(events.t, grid + w, side="left")
    slices = [EventSlice(int(g), int(g) + w, events.select(slice(int(a), int(b))))
              for g, a, b in zip(grid, lo, hi)]
    frames, _, _ = bin_to_device(slices, spec, torch.device("cpu"))
    first = np.searchsorted(grid, np.asarray(starts, np.int64))
    return frames.numpy()[first[:, None] + np.arange(t)[None, :]]  # a window's slices are adjacent


def recording_frames(rec: Recording, starts: list[int], params: WindowParams) -> np.ndarray:
    spec = params.frame_spec(rec.width, rec.height)
    events = read_spans(rec.path, merged_spans(starts, params.time_steps * params.slice_us))
    return bin_windows(events, starts, params, spec)


def cache_key(recordings: RecordingSet, params: WindowParams) -> str:
    """Hash of the window parameters, the classes, every recording's and sidecar's path, size
    and mtime, and the segments used: relabelling a recording rebuilds its frames."""
    h = hashlib.sha1(json.dumps({**asdict(params), "classes": recordings.class_names}, sort_keys=True).encode())
    for rec in recordings.recordings:
        for f in (rec.path, rec.sidecar):
            st = f.stat()
            h.update(f"{f.relative_to(recordings.root).as_posix()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        # the segments used: a split by time gives training and validation parts of the same files
        h.update(json.dumps([(s.start_us, s.end_us, s.label) for s in rec.segments]).encode())
    return h.hexdigest()[:20]


def load_windows(recordings: RecordingSet, params: WindowParams, cache_dir: str | Path | None) -> EventSet:
    """Frames and labels of every window of ``recordings``; ``paths`` are ``<recording>@<start_us>``."""
    starts, labels, paths = [], [], []
    for rec in recordings.recordings:
        s, lab = plan(rec, params, recordings.class_names)
        starts.append(s)
        labels += lab
        paths += [f"{rec.rel}@{v}" for v in s]
    cached = Path(cache_dir) / f"windows-{cache_key(recordings, params)}.npy" if cache_dir else None
    shape = (len(paths), params.time_steps, 2, params.out_size, params.out_size)
    parts = (recording_frames(rec, s, params).astype(np.float32, copy=False)
             for rec, s in zip(recordings.recordings, starts) if s)
    if cached is not None and cached.exists():
        frames = np.load(cached, mmap_mode="r")
    elif cached is not None:  # one recording's windows in memory at a time (fill_cache)
        frames = fill_cache(cached, shape, np.float32, parts)
    else:
        check_frames_fit(len(paths), params.time_steps, params.out_size, 4, "training windows")
        parts = list(parts)
        frames = np.concatenate(parts) if parts else np.zeros(shape, np.float32)
    warn_mostly_empty(recordings, starts, frames)
    return EventSet(frames, np.asarray(labels, np.int64), recordings.class_names, tuple(paths))


def warn_mostly_empty(recordings: RecordingSet, starts: list[list[int]], frames: np.ndarray) -> None:
    """A warning per segment most of whose windows hold no event (a long silence inside a
    label, a camera that stopped): training would teach the class from empty frames."""
    first = 0
    for rec, rec_starts in zip(recordings.recordings, starts):
        at = np.asarray(rec_starts, np.int64)
        held = np.asarray(frames[first:first + len(at)]).reshape(len(at), -1).any(axis=1)
        first += len(at)
        for seg in rec.segments:
            inside = (at >= seg.start_us) & (at < seg.end_us)
            empty = int((inside & ~held).sum())
            if empty * 2 > int(inside.sum()):
                warnings.warn(R2ETLWarning(f"{rec.sidecar}: segment '{seg.label}' [{seg.start_us}, {seg.end_us}) "
                                           f"is mostly empty: {empty} of its {int(inside.sum())} training "
                                           "windows hold no event"), stacklevel=3)


def recording_of(window_path: str) -> str:
    """The recording id of a window id ``<recording>@<start_us>``."""
    return window_path.rsplit("@", 1)[0]
