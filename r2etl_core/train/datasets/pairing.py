"""Same-class (image, event sample) pairs for R2ETL, an event-only dataset, and augmentation.

Pairing (method doc): the k-th image of class c is paired with event sample ``k mod n_c`` of
class c; one epoch is one pass over the images, so event samples repeat.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset


def pair_indices(image_labels: np.ndarray, event_labels: np.ndarray) -> np.ndarray:
    """``[N_img, 2]`` (image index, event index) pairs of the same class.

    Images of a class with no event samples are an error (nothing to pair them with)."""
    pairs = []
    for c in np.unique(image_labels):
        imgs = np.flatnonzero(image_labels == c)
        evts = np.flatnonzero(event_labels == c)
        if len(evts) == 0:
            raise ValueError(f"class {int(c)} has images but no event samples to pair them with")
        k = np.arange(len(imgs))
        pairs.append(np.stack([imgs, evts[k % len(evts)]], axis=1))
    return np.concatenate(pairs) if pairs else np.zeros((0, 2), np.int64)


class PairedDataset(Dataset):
    """Items ``(image [3,S,S] float32, events [T,2,S,S] float32, label)``; images in event labels."""

    def __init__(self, images: np.ndarray, image_labels: np.ndarray, frames: np.ndarray,
                 event_labels: np.ndarray):
        self.images, self.frames = images, frames
        self.labels = np.asarray(image_labels, np.int64)
        self.pairs = pair_indices(self.labels, np.asarray(event_labels, np.int64))

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int):
        a, b = self.pairs[i]
        return (torch.from_numpy(np.asarray(self.images[a], np.float32)),
                torch.from_numpy(np.array(self.frames[b], np.float32)), int(self.labels[a]))


class EventDataset(Dataset):
    """Items ``(events [T,2,S,S] float32, label)``: for events-only training and evaluation."""

    def __init__(self, frames: np.ndarray, labels: np.ndarray):
        self.frames, self.labels = frames, np.asarray(labels, np.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return torch.from_numpy(np.array(self.frames[i], np.float32)), int(self.labels[i])


def augment_events(frames: torch.Tensor, gen: torch.Generator, flip: bool, max_shift: int) -> torch.Tensor:
    """Paper augmentation on ``[B, T, 2, H, W]``: per sample a random horizontal flip and a random
    circular shift of up to ``max_shift`` px on both axes, the same for all T frames."""
    if not flip and max_shift <= 0:
        return frames
    b = frames.shape[0]
    flips = torch.rand(b, generator=gen) < 0.5 if flip else torch.zeros(b, dtype=torch.bool)
    shifts = torch.randint(-max_shift, max_shift + 1, (b, 2), generator=gen) if max_shift > 0 \
        else torch.zeros(b, 2, dtype=torch.long)
    out = torch.empty_like(frames)
    for i in range(b):
        x = frames[i].flip(-1) if flips[i] else frames[i]
        out[i] = torch.roll(x, shifts=(int(shifts[i, 0]), int(shifts[i, 1])), dims=(-2, -1))
    return out


def add_background_noise(frames: torch.Tensor, gen: torch.Generator, max_rate_hz: float,
                         slice_s: float) -> torch.Tensor:
    """Background activity on ``[B, T, 2, H, W]`` count frames: per sample a rate drawn from
    ``[0, max_rate_hz]`` events/s on every pixel, half ON and half OFF, added as Poisson counts.
    Real cameras never go silent; a network trained only on clean N-MNIST frames loses
    digits under 5 Hz/pixel of noise (docs/benchmarks.md)."""
    if max_rate_hz <= 0:
        return frames
    rates = torch.rand(frames.shape[0], generator=gen) * max_rate_hz
    lam = (rates * slice_s / 2).view(-1, *([1] * (frames.dim() - 1))).expand_as(frames)
    return frames + torch.poisson(lam.contiguous(), generator=gen).to(frames.dtype)


def random_offset_windows(fine: torch.Tensor, gen: torch.Generator, sub: int, share: float) -> torch.Tensor:
    """``[B, T * sub, 2, H, W]`` frames of ``sub`` x finer slices -> ``[B, T, 2, H, W]`` windows.

    For a ``share`` of the samples the window starts at a random phase ``k`` (a multiple of the
    fine slice, k < T * sub) of the sample repeated back to back, as when a camera sees an object
    held in view and a window begins anywhere in its motion; the others start at the sample's
    start, as evaluation does. The sample's period is taken as the window (T slices): N-MNIST
    recordings span about that, and events past it are dropped by the frames anyway."""
    b, steps = fine.shape[:2]
    if steps % sub:
        raise ValueError(f"{steps} fine slices are not a multiple of {sub}")
    phase = torch.randint(0, steps, (b,), generator=gen)
    phase = torch.where(torch.rand(b, generator=gen) < share, phase, torch.zeros_like(phase))
    index = (torch.arange(steps).view(1, -1) + phase.view(-1, 1)) % steps
    rolled = torch.take_along_dim(fine, index.view(b, steps, *([1] * (fine.dim() - 2))), dim=1)
    return rolled.view(b, steps // sub, sub, *fine.shape[2:]).sum(2)
