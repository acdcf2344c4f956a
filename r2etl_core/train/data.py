"""Build the training and validation data described by a ``DataConfig``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from r2etl_core.errors import InputError
from r2etl_core.train.config import OFFSET_SUBSLICES, DataConfig
from r2etl_core.train.datasets.camera_images import FRAMES_KIND, frame_paired_dataset
from r2etl_core.train.datasets.events import EventSet, default_frame_params, load_event_set, scan_event_folders
from r2etl_core.train.datasets.folders import layout_error, match_classes
from r2etl_core.train.datasets.images import (
    NORMALISATION,
    ImageSet,
    channel_stats,
    images_to_tensor_array,
    read_caltech101,
    read_cifar10,
    read_image_folder,
    read_mnist,
)
from r2etl_core.train.datasets.instances import instance_paired_dataset
from r2etl_core.train.datasets.pairing import EventDataset, PairedDataset
from r2etl_core.train.datasets.recording_sets import split_recordings
from r2etl_core.train.datasets.splits import every_nth_split, shared_nmnist_split, subset_per_class


@dataclass
class TrainData:
    train: Dataset
    val: EventSet
    class_names: tuple[str, ...]
    holdout: tuple[str, ...]  # validation sample (or recording) paths relative to events_dir
    normalisation: dict
    counts: dict  # how many samples of each kind were used
    sensor: tuple[int, int] | None = None  # labelled recordings: their sensor (else the kind's)
    held_out: str = ""  # labelled recordings: by-recording, by-time or folder


def load_images(cfg: DataConfig) -> ImageSet:
    if cfg.images == "mnist":
        return read_mnist(cfg.images_path)
    if cfg.images == "cifar10":
        return read_cifar10(cfg.images_path)
    if cfg.images == "caltech101":
        return read_caltech101(cfg.images_path, cfg.input_size)
    if cfg.images == "imagefolder":
        return read_image_folder(cfg.images_path, cfg.input_size)
    raise InputError(cfg.images, "unknown image dataset kind (mnist, cifar10, caltech101, imagefolder)")


def split_events(cfg: DataConfig) -> tuple[EventSet, EventSet]:
    """(train, validation) event sets according to ``cfg.split``. With ``augment_offset`` the
    training frames come in ``OFFSET_SUBSLICES`` x finer slices (the trainer sums them back into
    windows at random phases); validation frames are always the model's own slicing."""
    files = scan_event_folders(cfg.events, cfg.events_dir)
    params = default_frame_params(cfg.events, cfg.time_steps, cfg.input_size, cfg.frame_mode,
                                  cfg.slice_us, cfg.time_origin)
    cache = cfg.cache_dir or None
    train_params = params
    if cfg.augment_offset > 0:
        train_params = dataclasses.replace(params, time_steps=params.time_steps * OFFSET_SUBSLICES,
                                           slice_us=params.slice_us // OFFSET_SUBSLICES)
    if cfg.split == "folder":
        if not cfg.val_dir:
            raise InputError("data.val_dir", "split = 'folder' needs data.val_dir (a folder of held-out samples)")
        val_files = scan_event_folders(cfg.events, cfg.val_dir)
        match_classes(files.class_names, val_files.class_names, cfg.val_dir)
        return (load_event_set(cfg.events, files, train_params, cache),
                load_event_set(cfg.events, val_files, params, cache))
    if cfg.split == "shared-nmnist":
        if cfg.events != "nmnist":
            raise InputError("data.split", "split 'shared-nmnist' is only defined for nmnist events")
        split = shared_nmnist_split(cfg.events_dir, cfg.val_fold)
        train_rel, val_rel = list(split.train), list(split.val)
    else:
        train_rel, val_rel = every_nth_split(files, cfg.val_every, cfg.val_fold)
    full = load_event_set(cfg.events, files, params, cache)
    full_train = full if train_params == params else load_event_set(cfg.events, files, train_params, cache)
    pos = {p: i for i, p in enumerate(full.paths)}
    return full_train.subset([pos[p] for p in train_rel]), full.subset([pos[p] for p in val_rel])


def excluded_image_ids(cfg: DataConfig, val: EventSet) -> set[int]:
    """Source images recorded by validation event samples (N-MNIST id N = MNIST image N - 1)."""
    if cfg.events == "nmnist" and cfg.images == "mnist" and cfg.split != "folder":
        return {int(Path(p).stem) - 1 for p in val.paths}
    return set()


def prepare_images(cfg: DataConfig, class_names: tuple[str, ...],
                   exclude: set[int]) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Normalised ``[N, 3, S, S]`` images with labels in the event dataset's class order, and the
    (mean, std) used: the published ones, or an image folder's own."""
    images = load_images(cfg)
    src_of_target = match_classes(images.class_names, class_names, cfg.images_path)
    target_of_src = {s: t for t, s in enumerate(src_of_target)}
    keep = np.asarray([int(i) not in exclude for i in images.ids])
    images = images.subset(keep)
    labels = np.asarray([target_of_src[int(lab)] for lab in images.labels], np.int64)
    chosen = subset_per_class(labels, cfg.image_fraction, cfg.subset_seed + 1)
    if len(chosen) == 0:
        raise layout_error(cfg.images_path, cfg.images, "no images left after the split and fraction")
    chosen_images = images.images[chosen]
    stats = channel_stats(chosen_images) if cfg.images == "imagefolder" else NORMALISATION[cfg.images]
    return images_to_tensor_array(chosen_images, cfg.input_size, cfg.images, stats), labels[chosen], stats


def build_train_data(cfg: DataConfig, events_only: bool) -> TrainData:
    sensor, held_out = None, ""
    if cfg.events == "aedat4":
        split = split_recordings(cfg)
        train_all, val, holdout, sensor = split.train, split.val, split.holdout, split.sensor
        held_out = split.held_out
    else:
        train_all, val = split_events(cfg)
        holdout = val.paths
    chosen = subset_per_class(train_all.labels, cfg.event_fraction, cfg.subset_seed)
    train_evt = train_all.subset(chosen)
    counts = {"event_train": len(train_evt), "event_val": len(val)}
    if sensor is not None:
        counts["val_recordings"] = len(holdout)
    norm = {"events": "raw ON/OFF counts per slice (channel 0 = ON)"}
    if events_only:
        dataset: Dataset = EventDataset(train_evt.frames, train_evt.labels)
    elif cfg.images == FRAMES_KIND:  # the recordings' own APS frames (camera_images.py)
        dataset, frame_counts, (mean, std) = frame_paired_dataset(cfg, train_evt, holdout, held_out)
        counts.update(frame_counts, pairing=cfg.pairing)
        norm["images"] = {"kind": cfg.images, "mean": list(mean), "std": list(std), "coding": "direct"}
    elif cfg.pairing == "instance":
        dataset, n_images, (mean, std) = instance_paired_dataset(cfg.events, cfg.images, cfg.images_path,
                                                                 cfg.input_size, train_evt)
        counts["image_train"] = n_images
        norm["images"] = {"kind": cfg.images, "mean": list(mean), "std": list(std), "coding": "direct"}
    else:
        images, labels, (mean, std) = prepare_images(cfg, train_evt.class_names, excluded_image_ids(cfg, val))
        dataset = PairedDataset(images, labels, train_evt.frames, train_evt.labels)
        counts["image_train"] = len(images)
        norm["images"] = {"kind": cfg.images, "mean": list(mean), "std": list(std), "coding": "direct"}
    return TrainData(dataset, val, train_evt.class_names, holdout, norm, counts, sensor, held_out)
