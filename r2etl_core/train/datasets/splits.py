"""Fixed validation splits. Other parts of the project depend on these exact rules: do not change.

``shared_nmnist_split``: over ``nmnist/Train`` in ../shared/data, per class folder, sort the
``.bin`` names; sorted index % 5 == 0 is VALIDATION, the rest TRAIN. Fold k (cross-validation,
k = 0..4) takes sorted index % 5 == k instead; fold 0 is the fixed split. N-MNIST sample id N is a
recording of MNIST training image N - 1, so those MNIST images are excluded from image training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from r2etl_core.train.datasets.folders import ClassFiles, scan_class_folders

VAL_EVERY = 5


@dataclass(frozen=True)
class HoldoutSplit:
    train: tuple[str, ...]  # sample paths relative to the dataset root, e.g. "3/00123.bin"
    val: tuple[str, ...]
    excluded_image_ids: frozenset[int]  # source-image indices that must not be trained on


def every_nth_split(files: ClassFiles, every: int = VAL_EVERY, fold: int = 0) -> tuple[list[str], list[str]]:
    """Per class (files sorted by name): sorted index % every == fold -> validation."""
    if not 0 <= fold < every:
        raise ValueError(f"fold must be in [0, {every}), got {fold}")
    train, val = [], []
    for label in range(len(files.class_names)):
        for k, i in enumerate(files.indices_of(label)):
            (val if k % every == fold else train).append(files.relative(i))
    return train, val


def nmnist_image_id(rel_path: str) -> int:
    """MNIST training index recorded by an N-MNIST sample: ``"3/00123.bin"`` -> 122."""
    return int(Path(rel_path).stem) - 1


def shared_nmnist_split(root: str | Path, fold: int = 0) -> HoldoutSplit:
    """The project's fixed N-MNIST train/validation split, or cross-validation fold ``fold``
    (see module docstring)."""
    files = scan_class_folders(root, (".bin",), "nmnist")
    train, val = every_nth_split(files, VAL_EVERY, fold)
    return HoldoutSplit(tuple(train), tuple(val), frozenset(nmnist_image_id(p) for p in val))


def subset_per_class(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Indices of a ``fraction`` of each class (at least one sample each), chosen with ``seed``."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if fraction == 1.0:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    keep: list[np.ndarray] = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        n = max(1, int(round(fraction * len(idx))))
        keep.append(np.sort(rng.permutation(idx)[:n]))
    return np.sort(np.concatenate(keep))
