"""An exponential moving average of the weights (and BatchNorm statistics) of the network.

Averaging the weights of the last few hundred optimiser steps is a standard way to get a model
that generalises better than the last raw step, and it lets a recipe ship "the last checkpoint
of a fixed schedule" without choosing a step on validation data. The shadow copy is updated
after every optimiser step; its decay ramps up as ``min(decay, (1 + n) / (10 + n))`` so the
first steps do not drag random initial weights along.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class WeightAverage:
    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = self.current_decay()
        self.updates += 1
        src = model.state_dict()
        for name, avg in self.model.state_dict().items():
            new = src[name].detach()
            if avg.dtype.is_floating_point:
                avg.lerp_(new.to(avg.dtype), 1.0 - d)
            else:  # counters such as BatchNorm's num_batches_tracked
                avg.copy_(new)

    def load(self, state: dict[str, torch.Tensor], updates: int) -> None:
        self.model.load_state_dict(state)
        self.updates = updates
