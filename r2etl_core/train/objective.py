"""The training objective of each mode, as one ``nn.Module`` (so DistributedDataParallel can wrap it).

Total (mode ``r2etl``) = TET(img) + TET(evt) + w_enc * (1 - CKA_enc) + w_fea * (1 - TCKA_fea).
``joint-no-align`` sets both weights to 0, ``eam-only``/``fam-only`` keep one, ``events-only``
drops the image branch altogether.
"""

from __future__ import annotations

import torch
from torch import nn

from r2etl_core.nn.losses import encoding_alignment_loss, feature_alignment_loss, tet_loss
from r2etl_core.nn.model import R2ETLNet
from r2etl_core.train.diagnostics import alignment_values, frozen_buffers

MODE_WEIGHTS = {  # mode -> (uses images, encoding alignment on, feature alignment on)
    "r2etl": (True, True, True),
    "events-only": (False, False, False),
    "joint-no-align": (True, False, False),
    "eam-only": (True, True, False),
    "fam-only": (True, False, True),
}


class Objective(nn.Module):
    def __init__(self, model: R2ETLNet, mode: str, w_enc: float = 0.1, w_fea: float = 0.1):
        super().__init__()
        if mode not in MODE_WEIGHTS:
            raise ValueError(f"unknown training mode {mode!r} (known: {', '.join(MODE_WEIGHTS)})")
        self.model = model
        self.mode = mode
        self.uses_images, enc_on, fea_on = MODE_WEIGHTS[mode]
        self.w_enc = w_enc if enc_on else 0.0
        self.w_fea = w_fea if fea_on else 0.0

    def forward(self, events: torch.Tensor, labels: torch.Tensor, images: torch.Tensor | None = None,
                probe_images: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """``events [T, B, 2, H, W]``, ``images [B, 3, H, W]`` (repeated over T: direct coding).

        Returns (total loss, detached loss parts, event logits ``[T, B, K]``). Neuron state is
        reset before each branch so neither branch sees the other's (or the last batch's) state.
        ``self.terms`` keeps the weighted trained terms (with their graph) for gradient shares.
        EAM/FAM are in the parts in every mode that sees images: trained ones as before, the others
        computed outside the graph; events-only runs measure them on ``probe_images`` when given.
        """
        self.model.reset_state()
        logits_e, stem_e, pre_e = self.model.forward_aligned(events, "events")
        loss_e = tet_loss(logits_e, labels)
        parts = {"tet_evt": loss_e.detach()}
        terms = {"tet_evt": loss_e}
        total = loss_e
        if self.uses_images and images is not None:
            self.model.reset_state()
            logits_i, stem_i, pre_i = self.model.forward_aligned(_over_time(images, events), "images")
            loss_i = tet_loss(logits_i, labels)
            parts["tet_img"] = loss_i.detach()
            terms["tet_img"] = loss_i
            total = total + loss_i
            if self.w_enc > 0:
                enc = encoding_alignment_loss(stem_i, stem_e)
                parts["eam"] = enc.detach()
                terms["eam"] = self.w_enc * enc
                total = total + terms["eam"]
            if self.w_fea > 0:
                fea = feature_alignment_loss(pre_i, pre_e)
                parts["fam"] = fea.detach()
                terms["fam"] = self.w_fea * fea
                total = total + terms["fam"]
            if "eam" not in parts or "fam" not in parts:
                measured = alignment_values(stem_i, stem_e, pre_i, pre_e)
                parts.update({k: v for k, v in measured.items() if k not in parts})
        elif probe_images is not None:
            parts.update(self._measure(probe_images, events, stem_e, pre_e))
        self.model.reset_state()
        self.terms = terms
        return total, parts, logits_e

    def _measure(self, images: torch.Tensor, events: torch.Tensor, stem_e: torch.Tensor,
                 pre_e: torch.Tensor) -> dict[str, torch.Tensor]:
        """EAM/FAM of an events-only run: an image forward pass that trains nothing and leaves
        the batch-norm statistics as they were."""
        with torch.no_grad(), frozen_buffers(self.model):
            self.model.reset_state()
            _, stem_i, pre_i = self.model.forward_aligned(_over_time(images, events), "images")
            return alignment_values(stem_i, stem_e, pre_i, pre_e)


def _over_time(images: torch.Tensor, events: torch.Tensor) -> torch.Tensor:
    """Direct coding: the same image at each of the event tensor's T steps."""
    return images.unsqueeze(0).expand(events.shape[0], *images.shape)
