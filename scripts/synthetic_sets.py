"""Tiny synthetic datasets on disk, in the official layouts (and as labelled recordings and
image folders), for tests and demos.

Each class c draws its events / pixels in a class-specific square of the frame, so a network
can learn the classes in a few dozen steps.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from r2etl_core.io.nmnist import write_bin
from r2etl_core.train.datasets.continuous import StreamRecipe, build_stream
from r2etl_core.types import EventBatch
from scripts.standin import write_recording


def class_events(label: int, n: int = 400, size: int = 34, duration_us: int = 290_000,
                 seed: int = 0, num_classes: int = 10) -> EventBatch:
    """Events concentrated in a class-dependent 8x8 block of a ``size`` x ``size`` sensor."""
    rng = np.random.default_rng(seed)
    cells = max(1, (size - 8) // 8)
    bx, by = (label % cells) * 8, (label // cells % cells) * 8 + (label // (cells * cells)) * 2
    t = np.sort(rng.integers(0, duration_us, n)).astype(np.int64)
    x = np.clip(bx + rng.integers(0, 8, n), 0, size - 1).astype(np.int16)
    y = np.clip(by + rng.integers(0, 8, n), 0, size - 1).astype(np.int16)
    p = rng.integers(0, 2, n).astype(np.int8)
    return EventBatch(t, x, y, p, size, size)


def write_nmnist_folder(root: str | Path, per_class: int, num_classes: int = 10, first_id: int = 1,
                        seed: int = 0) -> Path:
    """``root/<digit>/<id>.bin`` with ids that index ``write_mnist_npz`` images (id = index + 1)."""
    root = Path(root)
    sample_id = first_id
    for k in range(per_class):
        for c in range(num_classes):
            (root / str(c)).mkdir(parents=True, exist_ok=True)
            write_bin(root / str(c) / f"{sample_id:05d}.bin", class_events(c, seed=seed + sample_id))
            sample_id += 1
    return root


def class_images(labels: np.ndarray, size: int = 28, seed: int = 0) -> np.ndarray:
    """uint8 ``[N, size, size]`` grey images with a bright class-dependent block plus noise."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 40, (len(labels), size, size)).astype(np.uint8)
    cells = max(1, (size - 6) // 6)
    for i, c in enumerate(labels):
        bx, by = (int(c) % cells) * 6, (int(c) // cells % cells) * 6
        images[i, by:by + 6, bx:bx + 6] = 230
    return images


def write_mnist_npz(path: str | Path, n: int, num_classes: int = 10, seed: int = 0) -> Path:
    """``images``/``labels`` .npz like ../shared/data/mnist/mnist3750.npz; label of image i = i % K,
    matching the labels ``write_nmnist_folder`` gives sample id i + 1."""
    labels = (np.arange(n) % num_classes).astype(np.uint8)
    np.savez(path, images=class_images(labels, seed=seed), labels=labels)
    return Path(path)


def write_labelled_recordings(root: str | Path, per_class: int, class_names: tuple[str, ...],
                              per_recording: int = 3, seed: int = 0, noise_hz: float = 0.5) -> Path:
    """``root/rec-NNN.aedat4`` + ``.labels.csv``: ``per_class`` clips of each class (class k draws
    ``class_events(k)``, held 0.4-0.5 s), ``per_recording`` clips per recording, like a lab's
    own labelled camera clips (see ``standin.py`` for ones made from real N-MNIST samples)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    k = len(class_names)
    clips = [(class_events(c, seed=seed * 7919 + i * k + c, num_classes=k), name)
             for i in range(per_class) for c, name in enumerate(class_names)]
    for r, first in enumerate(range(0, len(clips), per_recording)):
        recipe = StreamRecipe(hold_us=(400_000, 500_000), noise_hz_per_pixel=noise_hz, seed=seed * 1000 + r)
        events, labels = build_stream(clips[first:first + per_recording], recipe)
        write_recording(root / f"rec-{r:03d}.aedat4", events, labels)
    return root


def write_image_folder(root: str | Path, per_class: int, class_names: tuple[str, ...], seed: int = 0) -> Path:
    """``root/<class>/NNN.png`` grey images drawn by ``class_images`` (class k in block k)."""
    root = Path(root)
    labels = np.repeat(np.arange(len(class_names)), per_class)
    images = class_images(labels, seed=seed)
    for i, (img, c) in enumerate(zip(images, labels)):
        (root / class_names[c]).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / class_names[c] / f"{i:03d}.png"), img)
    return root
