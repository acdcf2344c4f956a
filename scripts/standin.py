"""A stand-in for a lab's own camera clips and image folder, built from the data in ../shared.

Why: docs/own-classes.md walks from "I have a camera" to "my model runs live"; its test and
the measurements in docs/results.md need clips nobody recorded. These are:

- labelled ``.aedat4`` recordings (34x34, like a tiny camera) made by ``continuous.py``'s
  builder from N-MNIST VALIDATION samples only (the shipped model never trained on them):
  each recording shows a few clips back to back, each clip one sample held 0.6-1.2 s, with
  1 Hz/pixel background noise throughout and sometimes an ``idle`` stretch between clips;
- an image folder (one PNG per image, one sub-folder per class) of MNIST images that are NOT
  the sources of any N-MNIST sample here (indices >= 1000 of mnist3750.npz).

The digits are regrouped into classes the shipped model does not have (``GROUPS``), so
teaching them needs a new classifier, as a lab's own classes would.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from r2etl_core.errors import InputError
from r2etl_core.io.dv import AedatWriter
from r2etl_core.io.labels import LabelSegment, write_labels
from r2etl_core.io.modelfile import DEFAULT_MODEL_PATH
from r2etl_core.io.nmnist import read_bin
from r2etl_core.train.datasets.continuous import StreamRecipe, build_stream, class_of, validation_ids
from r2etl_core.types import EventBatch

GROUPS: dict[str, tuple[str, ...]] = {  # class -> N-MNIST digits shown as that class
    "straight": ("1", "4", "7"),
    "round": ("0", "6", "8", "9"),
    "curvy": ("2", "3", "5"),
}
CLIP_RECIPE = StreamRecipe(hold_us=(600_000, 1_200_000), noise_hz_per_pixel=1.0, idle_probability=0.3,
                           idle_us=(200_000, 600_000))
CAMERA_NAME = "ATIS (N-MNIST stand-in)"
PACKET_US = 30_000
FIRST_IMAGE_NOT_RECORDED = 1000  # mnist3750.npz images below this are N-MNIST sources here


def group_of(digit: str, groups: dict[str, tuple[str, ...]] = GROUPS) -> str | None:
    return next((name for name, digits in groups.items() if digit in digits), None)


def clips_by_class(nmnist_root: str | Path, groups: dict[str, tuple[str, ...]] = GROUPS,
                   model_path: Path | None = DEFAULT_MODEL_PATH) -> dict[str, list[str]]:
    """Validation sample ids (checked never trained on by ``model_path``) of each class, sorted."""
    out: dict[str, list[str]] = {name: [] for name in groups}
    for rel in validation_ids(nmnist_root, model_path):
        name = group_of(class_of(rel), groups)
        if name is not None:
            out[name].append(rel)
    return out


def choose_clips(by_class: dict[str, list[str]], n_train: int, n_test: int,
                 seed: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(train, test) lists of (sample id, class): the test clips are the same for every
    ``seed`` and ``n_train`` (one fixed shuffle), the training clips are drawn from the rest."""
    train, test = [], []
    for name, ids in sorted(by_class.items()):
        fixed = sorted(ids)
        random.Random(f"test:{name}").shuffle(fixed)
        if len(fixed) < n_test + n_train:
            raise InputError(name, f"{len(fixed)} validation clips, {n_test} test + {n_train} training asked")
        test += [(rel, name) for rel in fixed[:n_test]]
        rest = fixed[n_test:]
        train += [(rel, name) for rel in random.Random(f"train:{name}:{seed}").sample(rest, n_train)]
    return train, test


def write_recording(out: Path, events: EventBatch, labels: list[LabelSegment]) -> Path:
    """``out`` (.aedat4, events in 30 ms packets) and its ``<stem>.labels.csv`` sidecar."""
    edges = np.arange((events.t_first_us // PACKET_US + 1) * PACKET_US, events.t_last_us + PACKET_US, PACKET_US)
    cuts = np.searchsorted(events.t, edges)
    with AedatWriter(out, events.width, events.height, camera_name=CAMERA_NAME) as writer:
        for a, b in zip(np.r_[0, cuts[:-1]], cuts):
            writer.write(events.select(slice(int(a), int(b))))
    write_labels(out.with_name(out.name[: -len(".aedat4")] + ".labels.csv"), labels)
    return out


def write_clips(out: Path, clips: list[tuple[str, str]], nmnist_root: str | Path, seed: int) -> Path:
    """One recording ``out`` showing ``clips`` (sample id, class) in this order, labelled."""
    samples = [(read_bin(Path(nmnist_root) / rel), name) for rel, name in clips]
    events, labels = build_stream(samples, replace(CLIP_RECIPE, seed=seed))
    return write_recording(out, events, labels)


def write_clip_recordings(out_dir: str | Path, clips: list[tuple[str, str]], nmnist_root: str | Path,
                          per_recording: int, seed: int, prefix: str = "clip") -> list[Path]:
    """Recordings of ``per_recording`` clips each (shuffled with ``seed``), labelled by class."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    order = list(clips)
    random.Random(seed).shuffle(order)
    return [write_clips(out_dir / f"{prefix}-{k // per_recording:03d}.aedat4", order[k:k + per_recording],
                        nmnist_root, seed * 1000 + k) for k in range(0, len(order), per_recording)]


def write_image_folder(mnist_npz: str | Path, out_dir: str | Path, per_class: int,
                       groups: dict[str, tuple[str, ...]] = GROUPS) -> Path:
    """``out_dir/<class>/<index>.png``: ``per_class`` MNIST images of each class (spread evenly
    over its digits), none of them a source of an N-MNIST sample in ../shared."""
    with np.load(mnist_npz, allow_pickle=False) as z:
        images, labels = z["images"], z["labels"]
    out_dir = Path(out_dir)
    for name, digits in groups.items():
        (out_dir / name).mkdir(parents=True, exist_ok=True)
        pools = [np.flatnonzero(labels[FIRST_IMAGE_NOT_RECORDED:] == int(d)) + FIRST_IMAGE_NOT_RECORDED
                 for d in digits]
        chosen = [int(pool[i // len(pools)]) for i, pool in
                  ((i, pools[i % len(pools)]) for i in range(per_class))]
        for i in chosen:
            cv2.imwrite(str(out_dir / name / f"{i:05d}.png"), images[i])
    return out_dir


def write_tutorial_data(shared: str | Path, out: str | Path, clips_per_class: int = 6,
                        images_per_class: int = 60, seed: int = 0) -> dict[str, Path]:
    """What docs/own-classes.md starts from, for a reader without a camera (and for its test):
    ``out/my-clips`` (labelled recordings, three clips each), ``out/my-pictures`` (the image
    folder) and ``out/another-take.aedat4`` (one more labelled recording, of other clips)."""
    shared, out = Path(shared), Path(out)
    root = shared / "nmnist" / "Train"
    train, test = choose_clips(clips_by_class(root), clips_per_class, 1, seed)
    write_clip_recordings(out / "my-clips", train, root, 3, seed, "take")
    take = write_clips(out / "another-take.aedat4", test, root, seed + 1)
    pictures = write_image_folder(shared / "mnist" / "mnist3750.npz", out / "my-pictures", images_per_class)
    return {"clips": out / "my-clips", "pictures": pictures, "take": take}
