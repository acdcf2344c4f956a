"""A DAVIS's own grey-level (APS) frames as R2ETL's image domain: ``--images aedat4-frames:DIR``.

Why: a DAVIS records intensity frames beside its events, so labelled recordings already hold
images of every class, from the same camera, at the same moments. Each frame whose timestamp
lies inside a labelled segment ``[start_us, end_us)`` becomes an image of that segment's class;
frames in ``idle``, ``unknown`` or ``none`` stretches, or outside every segment, are skipped.
A frame is cut to the square the events are binned from (the centred square, or
``data.roi``: ``WindowParams.frame_spec``) and area-resized to the model's input, so both
stems look at the same part of the scene.

No frame of a validation recording is trained on: recordings the event side holds out (by
recording, or ``data.val_dir``) are left out here too, matched by their real path.

Pairing (``data.pairing``): ``class`` pairs the k-th frame of a class with training window
``k mod n`` of that class, as for any image set. ``instance`` (what ``r2etl train`` picks when
``--images`` names the ``--data`` folder) pairs every training window with the frame nearest its
middle inside the same labelled segment of the same recording: two views of one moment. A
window whose segment holds no frame (a recording without frames) gets a frame of its class,
counted in ``windows_paired_by_class``.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from r2etl_core.errors import InputError, R2ETLWarning
from r2etl_core.io.aps_frames import has_frame_stream, read_camera_frames
from r2etl_core.train.config import DataConfig
from r2etl_core.train.datasets.events import EventSet
from r2etl_core.train.datasets.images import images_to_tensor_array
from r2etl_core.train.datasets.instances import InstancePairedDataset
from r2etl_core.train.datasets.pairing import PairedDataset
from r2etl_core.train.datasets.recording_sets import window_params
from r2etl_core.train.datasets.recordings import Recording, RecordingSet, find_recordings, scan_recordings
from r2etl_core.train.datasets.small_data import split_by_time
from r2etl_core.train.datasets.windows import WindowParams

FRAMES_KIND = "aedat4-frames"


def recordings_have_frames(paths: Iterable[str | Path]) -> bool:
    """Whether any of these recordings (or of the recordings under these folders) declares APS
    frames: what a front end asks to offer ``aedat4-frames`` as the image side. Headers only."""
    for path in map(Path, paths):
        found = find_recordings(path) if path.is_dir() else [path]
        if any(has_frame_stream(p) for p in found):
            return True
    return False


@dataclass(frozen=True)
class LabelledFrames:
    """``images`` uint8 ``[N, S, S]`` (cropped and resized) of class ``labels[i]``, taken at
    ``t_us[i]`` in recording ``recordings[i]`` (its id in the scanned folder)."""

    images: np.ndarray
    labels: np.ndarray
    t_us: np.ndarray
    recordings: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)


def crop_resize(images: np.ndarray, params: WindowParams, width: int, height: int) -> np.ndarray:
    """``[N, H, W]`` sensor frames -> ``[N, S, S]``: the events' square, area-resized."""
    spec = params.frame_spec(width, height)
    x, y, side = spec.roi_x, spec.roi_y, spec.roi_size
    out = np.empty((len(images), params.out_size, params.out_size), np.uint8)
    for i, img in enumerate(images):
        out[i] = cv2.resize(img[y:y + side, x:x + side], (params.out_size,) * 2, interpolation=cv2.INTER_AREA)
    return out


def recording_frames(rec: Recording, class_names: tuple[str, ...], params: WindowParams) -> LabelledFrames | None:
    """The labelled frames of one recording; None when it holds no frame."""
    frames = read_camera_frames(rec.path) if has_frame_stream(rec.path) else None
    if frames is None or not len(frames):
        return None
    if not frames.complete:  # damaged, or past MAX_FRAME_BYTES: train on what was read, and say so
        warnings.warn(R2ETLWarning(f"{rec.path}: frames read up to {int(frames.t_us[-1])} us only (damaged or "
                                   "very long recording)"), stacklevel=3)
    if (frames.width, frames.height) != (rec.width, rec.height):
        raise InputError(rec.path, f"frames are {frames.width}x{frames.height} but events "
                                   f"{rec.width}x{rec.height}: cannot cut both to the same square")
    labels = np.full(len(frames), -1, np.int64)
    for seg in rec.segments:
        inside = (frames.t_us >= seg.start_us) & (frames.t_us < seg.end_us)
        labels[inside] = class_names.index(seg.label)
    keep = np.flatnonzero(labels >= 0)
    images = crop_resize(frames.images[keep], params, rec.width, rec.height)
    return LabelledFrames(images, labels[keep], frames.t_us[keep], (rec.rel,) * len(keep))


def read_labelled_frames(recordings: RecordingSet, class_names: tuple[str, ...],
                         params: WindowParams) -> LabelledFrames:
    """Labelled frames of every recording; recordings without frames are skipped with a
    warning, and none at all is an InputError naming the folder and a recording."""
    parts, without = [], []
    for rec in recordings.recordings:
        part = recording_frames(rec, class_names, params)
        if part is None:
            without.append(rec.rel)
        else:
            parts.append(part)
    if not parts:
        raise InputError(recordings.root, f"none of its {len(recordings.recordings)} labelled recordings holds "
                                          f"APS frames (e.g. {recordings.recordings[0].rel}): aedat4-frames "
                                          "needs a DAVIS's .aedat4 recordings with frames; use "
                                          "imagefolder:DIR or --mode events-only")
    if without:
        warnings.warn(R2ETLWarning(f"{recordings.root}: {len(without)} recordings hold no APS frames and give no "
                                   f"images (e.g. {without[0]})"), stacklevel=2)
    return LabelledFrames(np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts]),
                          np.concatenate([p.t_us for p in parts]), sum((p.recordings for p in parts), ()))


def validation_paths(cfg: DataConfig, holdout: tuple[str, ...]) -> set[str]:
    """Real paths of the recordings the event side validates on."""
    root = Path(cfg.val_dir if cfg.split == "folder" else cfg.events_dir)
    return {os.path.realpath(root / rel) for rel in holdout}


def frame_recordings(cfg: DataConfig, class_names: tuple[str, ...], holdout: tuple[str, ...]) -> RecordingSet:
    """The labelled recordings of ``images_path`` minus the validation recordings."""
    found = scan_recordings(cfg.images_path)
    unknown = sorted({label for rec in found.recordings for label in rec.labels} - set(class_names))
    if unknown:
        raise InputError(cfg.images_path, f"labels {unknown[:5]} are not classes of the event recordings "
                                          f"({list(class_names)})")
    val = validation_paths(cfg, holdout)
    kept = tuple(rec for rec in found.recordings if os.path.realpath(rec.path) not in val)
    if not kept:
        raise InputError(cfg.images_path, "every recording here is a validation recording: no frame is left "
                                          "to train on")
    return RecordingSet(found.root, kept, class_names, found.sensor)


def grey_stats(images: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) of grey ``[N, S, S]`` uint8 frames as [0, 1] pixels, for all 3 channels."""
    pixels = images.astype(np.float64) / 255.0
    mean, std = round(float(pixels.mean()), 5), round(max(float(pixels.std()), 1e-3), 5)
    return (mean,) * 3, (std,) * 3


def same_segment_pairs(frames: LabelledFrames, recordings: RecordingSet, windows: EventSet,
                       window_us: int) -> tuple[np.ndarray, int]:
    """``[N_windows, 2]`` (frame, window) pairs: each window with the frame nearest its middle
    in its own labelled segment, else the frame ``j mod n`` of its class. Returns the pairs and
    how many windows fell back to a frame of their class."""
    segments = {rec.rel: rec.segments for rec in recordings.recordings}
    rec_ids = np.asarray(frames.recordings, dtype=object)
    of_recording = {rel: np.flatnonzero(rec_ids == rel) for rel in segments}
    of_class = {int(c): np.flatnonzero(frames.labels == c) for c in np.unique(windows.labels)}
    pairs, fallback = np.zeros((len(windows), 2), np.int64), 0
    for j, path in enumerate(windows.paths):
        rel, start = path.rsplit("@", 1)
        start, label = int(start), int(windows.labels[j])
        seg = next((s for s in segments.get(rel, ()) if s.start_us <= start < s.end_us), None)
        near = of_recording.get(rel, np.zeros(0, np.int64))
        if seg is not None:
            near = near[(frames.t_us[near] >= seg.start_us) & (frames.t_us[near] < seg.end_us)]
        if seg is not None and len(near):
            pairs[j, 0] = near[np.argmin(np.abs(frames.t_us[near] - (start + window_us // 2)))]
        else:
            pairs[j, 0] = of_class[label][j % len(of_class[label])]
            fallback += 1
        pairs[j, 1] = j
    return pairs, fallback


def frame_paired_dataset(cfg: DataConfig, train_evt: EventSet, holdout: tuple[str, ...],
                         held_out: str = "by-recording") -> tuple[PairedDataset, dict, tuple]:
    """(dataset, counts for the model file, normalisation (mean, std)) for ``aedat4-frames``.
    ``held_out`` "by-time": the frames of the held-out end of every segment are left out, as
    the event windows there are (``small_data.split_by_time``, the same cut)."""
    if held_out == "by-time":
        recordings = split_by_time(frame_recordings(cfg, train_evt.class_names, ()), window_params(cfg, 1))[0]
    else:
        recordings = frame_recordings(cfg, train_evt.class_names, holdout)
    params = window_params(cfg, cfg.window_stride_slices or 1)
    frames = read_labelled_frames(recordings, train_evt.class_names, params)
    missing = [train_evt.class_names[c] for c in np.unique(train_evt.labels) if not np.any(frames.labels == c)]
    if missing:
        raise InputError(cfg.images_path, f"no APS frame of class '{missing[0]}' in the training recordings: "
                                          "every class needs frames (or use imagefolder:DIR / --mode events-only)")
    stats = grey_stats(frames.images)
    images = images_to_tensor_array(frames.images, cfg.input_size, "imagefolder", stats)
    counts = {"image_train": len(frames), "image_recordings": len(set(frames.recordings))}
    if cfg.pairing == "instance":
        if os.path.realpath(cfg.images_path) != os.path.realpath(cfg.events_dir):
            raise InputError("data.pairing", f"'instance' pairs windows with frames of the same recordings: "
                                             f"data.images_path ({cfg.images_path}) must be data.events_dir "
                                             f"({cfg.events_dir}); use 'class'")
        pairs, fallback = same_segment_pairs(frames, recordings, train_evt, cfg.time_steps * cfg.slice_us)
        counts["windows_paired_by_class"] = fallback
        return InstancePairedDataset(images, train_evt.frames, train_evt.labels, pairs), counts, stats
    return PairedDataset(images, frames.labels, train_evt.frames, train_evt.labels), counts, stats
