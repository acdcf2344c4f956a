"""Per-term training diagnostics: how much each loss term pushes the shared trunk, and how
aligned the two branches are in modes that do not train the alignment.

Whether EAM/FAM help is easier to judge when every mode reports the same numbers: the gradient
share of each term on the trunk (is alignment a real force, or noise next to TET?) and the EAM/FAM
values themselves, computed without training them in ``events-only`` and ``joint-no-align``
runs (do the branches align anyway?). ``run.diag_every`` sets how often (0 = never).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from r2etl_core.nn.losses import encoding_alignment_loss, feature_alignment_loss


def grad_shares(terms: dict[str, torch.Tensor], params: list[nn.Parameter]) -> dict[str, float]:
    """``grad_share_<term>``: each term's gradient norm on ``params`` over the sum of all terms'
    norms (so the shares of the trained terms sum to 1). The graph is kept for the real backward."""
    norms = {}
    for name, term in terms.items():
        grads = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
        squares = [g.detach().float().pow(2).sum() for g in grads if g is not None]
        norms[name] = float(torch.stack(squares).sum().sqrt()) if squares else 0.0
    total = sum(norms.values())
    return {f"grad_share_{k}": (v / total if total > 0 else 0.0) for k, v in norms.items()}


def alignment_values(stem_img: torch.Tensor, stem_evt: torch.Tensor, pre_img: torch.Tensor,
                     pre_evt: torch.Tensor) -> dict[str, torch.Tensor]:
    """EAM and FAM loss values (1 - CKA, 1 - TCKA) of one batch, outside the graph."""
    with torch.no_grad():
        return {"eam": encoding_alignment_loss(stem_img.detach(), stem_evt.detach()),
                "fam": feature_alignment_loss(pre_img.detach(), pre_evt.detach())}


@contextlib.contextmanager
def frozen_buffers(model: nn.Module) -> Iterator[None]:
    """Run the block on copies of every buffer (batch-norm running statistics), then put the
    originals back: a measuring forward pass of the image branch must not change the model an
    events-only run trains and evaluates. Copies, not an in-place restore, because the event
    branch's graph has saved the originals and would refuse them modified."""
    originals = [(m, name, buf) for m in model.modules() for name, buf in m._buffers.items() if buf is not None]
    for module, name, buf in originals:
        module._buffers[name] = buf.clone()
    try:
        yield
    finally:
        for module, name, buf in originals:
            module._buffers[name] = buf


class ImageProbe:
    """Same-class images for measuring alignment in events-only runs, which load no paired data.

    Chosen by a step counter (never a random generator), so measuring leaves the run's random
    streams, and so its data order and result, exactly as without diagnostics."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        self.images = images
        self.by_class = {int(c): np.flatnonzero(labels == c) for c in np.unique(labels)}

    def images_for(self, labels: torch.Tensor, step: int) -> torch.Tensor | None:
        """``[B, 3, S, S]`` images with the classes of ``labels``; None when a class has no image."""
        picks = []
        for i, c in enumerate(labels.tolist()):
            pool = self.by_class.get(int(c))
            if pool is None:
                return None
            picks.append(pool[(step * len(labels) + i) % len(pool)])
        return torch.from_numpy(np.asarray(self.images[picks], np.float32))
