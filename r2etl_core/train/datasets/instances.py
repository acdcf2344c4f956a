"""Instance-level pairing (``data.pairing = "instance"``): each N-MNIST sample with its own source image.

Same-class pairing (``pairing.py``) shows the network an event sample next to *some* image of
its class. N-MNIST was recorded by moving a sensor in front of MNIST training images, and sample
id N is a recording of image N - 1 (``splits.nmnist_image_id``), so each event sample can also be
paired with the very image it shows: alignment then compares two views of one digit instead of
two digits of one class. One epoch is one pass over the training event samples; images that no
training sample was recorded from (the validation samples' sources among them) are never used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from r2etl_core.errors import InputError
from r2etl_core.train.datasets.events import EventSet
from r2etl_core.train.datasets.folders import match_classes
from r2etl_core.train.datasets.images import NORMALISATION, images_to_tensor_array, read_mnist
from r2etl_core.train.datasets.pairing import PairedDataset
from r2etl_core.train.datasets.splits import nmnist_image_id

PAIRINGS = ("class", "instance")


def check_instance_kinds(events: str, images: str) -> None:
    """Only N-MNIST events carry the id of the image they were recorded from."""
    if events != "nmnist" or images != "mnist":
        raise InputError("data.pairing", f"'instance' pairs each N-MNIST sample with the MNIST image it was "
                                         f"recorded from; data.events = {events!r} / data.images = {images!r} "
                                         f"have no instance ids: use pairing = 'class'")


def instance_pair_indices(image_ids: np.ndarray, event_image_ids: np.ndarray, where: str | Path) -> np.ndarray:
    """``[N_evt, 2]`` (image index, event index): event ``j`` with the image whose id is
    ``event_image_ids[j]``. A source image missing from the image set is an InputError naming
    ``where`` (training on a silently smaller set would be a different experiment)."""
    index = {int(i): k for k, i in enumerate(image_ids)}
    missing = [int(i) for i in event_image_ids if int(i) not in index]
    if missing:
        raise InputError(where, f"{len(missing)} training event samples were recorded from images not in "
                                f"this file (image ids {missing[:5]}...): instance pairing needs every source image")
    return np.asarray([[index[int(i)], j] for j, i in enumerate(event_image_ids)], np.int64).reshape(-1, 2)


class InstancePairedDataset(PairedDataset):
    """``PairedDataset`` over given (image, event) pairs; items are labelled by the event sample."""

    def __init__(self, images: np.ndarray, frames: np.ndarray, event_labels: np.ndarray, pairs: np.ndarray):
        self.images, self.frames, self.pairs = images, frames, pairs
        labels = np.asarray(event_labels, np.int64)
        self.labels = np.empty(len(images), np.int64)  # PairedDataset labels items by image index
        self.labels[pairs[:, 0]] = labels[pairs[:, 1]]


def instance_paired_dataset(events: str, images_kind: str, images_path: str | Path, input_size: int,
                            train_evt: EventSet) -> tuple[InstancePairedDataset, int, tuple]:
    """(dataset, number of distinct images used, normalisation (mean, std))."""
    check_instance_kinds(events, images_kind)
    source = read_mnist(images_path)
    src_of_target = match_classes(source.class_names, train_evt.class_names, images_path)
    event_ids = np.asarray([nmnist_image_id(p) for p in train_evt.paths], np.int64)
    pairs = instance_pair_indices(source.ids, event_ids, images_path)
    used = np.unique(pairs[:, 0])
    for img, evt in pairs:
        if int(source.labels[img]) != src_of_target[int(train_evt.labels[evt])]:
            raise InputError(images_path, f"image {int(source.ids[img])} is labelled {int(source.labels[img])} but "
                                          f"its N-MNIST recording {train_evt.paths[evt]} is in another class")
    remap = np.full(len(source.ids), -1, np.int64)
    remap[used] = np.arange(len(used))
    pairs = np.stack([remap[pairs[:, 0]], pairs[:, 1]], axis=1)
    stats = NORMALISATION[images_kind]
    array = images_to_tensor_array(source.images[used], input_size, images_kind, stats)
    return InstancePairedDataset(array, train_evt.frames, train_evt.labels, pairs), len(used), stats
