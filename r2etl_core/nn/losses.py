"""R2ETL losses as pure functions: TET classification loss, linear CKA (Gram form), temporal CKA.

Shapes: logits ``O`` are ``[T, B, K]``; CKA inputs are ``[B, D]`` (any D, the Gram form only
needs ``B x B`` memory); temporal CKA inputs are ``[T, B, D]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

TET_MSE_WEIGHT = 1e-3
CKA_EPS = 1e-8


def tet_loss(logits: torch.Tensor, labels: torch.Tensor, lam: float = TET_MSE_WEIGHT,
             target: float = 1.0) -> torch.Tensor:
    """Temporal efficient training loss: ``(1-lam) * mean_t CE(O[t], y) + lam * MSE(O, target)``."""
    if logits.dim() != 3:
        raise ValueError(f"TET expects logits [T, B, K], got shape {tuple(logits.shape)}")
    t_steps = logits.shape[0]
    ce = sum(F.cross_entropy(logits[t], labels) for t in range(t_steps)) / t_steps
    mse = F.mse_loss(logits, torch.full_like(logits, target))
    return (1.0 - lam) * ce + lam * mse


def _centred_gram(x: torch.Tensor) -> torch.Tensor:
    x = x.reshape(x.shape[0], -1).to(torch.float32)
    x = x - x.mean(dim=0, keepdim=True)
    return x @ x.T


def linear_cka(x: torch.Tensor, y: torch.Tensor, eps: float = CKA_EPS) -> torch.Tensor:
    """Linear CKA between ``x [B, D]`` and ``y [B, D']`` (extra dims are flattened).

    Columns are centred, ``K = X X^T``, ``L = Y Y^T``; CKA = <K, L>_F / (||K||_F ||L||_F + eps).
    A batch of identical rows gives K = 0 and CKA = 0 (no NaN).
    """
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"CKA needs the same batch size, got {x.shape[0]} and {y.shape[0]}")
    # float32 even under AMP: Gram entries of wide spike-count features overflow float16
    with torch.autocast(x.device.type, enabled=False):
        kx, ky = _centred_gram(x), _centred_gram(y)
        num = (kx * ky).sum()
        den = torch.linalg.norm(kx) * torch.linalg.norm(ky) + eps
        return num / den


def temporal_cka(x: torch.Tensor, y: torch.Tensor, eps: float = CKA_EPS) -> torch.Tensor:
    """Mean over t of ``linear_cka(x[t], y[t])`` for ``[T, B, D]`` inputs (time first, as the model)."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"TCKA needs the same number of steps, got {x.shape[0]} and {y.shape[0]}")
    return torch.stack([linear_cka(x[t], y[t], eps) for t in range(x.shape[0])]).mean()


def encoding_alignment_loss(stem_img: torch.Tensor, stem_evt: torch.Tensor) -> torch.Tensor:
    """EAM: 1 - CKA between stem spike counts summed over time (``[T, B, ...]`` -> ``[B, D]``)."""
    return 1.0 - linear_cka(stem_img.sum(dim=0), stem_evt.sum(dim=0))


def feature_alignment_loss(pre_img: torch.Tensor, pre_evt: torch.Tensor) -> torch.Tensor:
    """FAM: 1 - TCKA between bottleneck pre-reset potentials ``[T, B, D]`` of the two branches."""
    return 1.0 - temporal_cka(pre_img, pre_evt)
