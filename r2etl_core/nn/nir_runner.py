"""A small, independent NIR interpreter: runs a ``nir.NIRGraph`` one time step at a time.

It knows nothing of r2etl's network: it reads only the graph (nodes, edges, ``dt`` from the
metadata) and applies NIR's definitions, so it checks what a NIR consumer would compute from
the file. LIF follows NIR literally under a forward-Euler step of ``dt``:

    v <- v + dt / tau * (v_leak - v + r * I);  z = v > v_threshold;  v <- v_reset where z

Nodes with several inputs sum them (NIR's convention). Computation is float32 on the CPU,
like the model it is compared with; a batch dimension is added in front of every NIR shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import nir
import numpy as np
import torch
import torch.nn.functional as F

from r2etl_core.errors import ModelError


def _tensor(array) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.asarray(array, dtype=np.float32)))


@dataclass
class _LIFState:
    decay: torch.Tensor  # 1 - dt / tau
    gain: torch.Tensor  # dt / tau * r
    leak: torch.Tensor  # dt / tau * v_leak
    threshold: torch.Tensor
    reset: torch.Tensor
    v: torch.Tensor | None = None
    ties: int = 0  # potentials exactly at threshold: NIR does not fire, spikingjelly does


def _lif(node: nir.LIF, dt: np.float32) -> _LIFState:
    tau = np.asarray(node.tau, dtype=np.float32)
    ratio = dt / tau  # float32: 0.03 / 0.06 is exactly 0.5 when tau was written as 2 * dt
    return _LIFState(decay=_tensor(1 - ratio), gain=_tensor(ratio * np.asarray(node.r, np.float32)),
                     leak=_tensor(ratio * np.asarray(node.v_leak, np.float32)),
                     threshold=_tensor(node.v_threshold), reset=_tensor(node.v_reset))


def _conv(node: nir.Conv2d):
    weight, bias = _tensor(node.weight), _tensor(node.bias) if node.bias is not None else None
    if isinstance(node.padding, str):
        padding = node.padding
    else:
        padding = tuple(int(p) for p in np.broadcast_to(node.padding, (2,)))
    stride = tuple(int(s) for s in np.broadcast_to(node.stride, (2,)))
    dilation = tuple(int(d) for d in np.broadcast_to(node.dilation, (2,)))
    return lambda x: F.conv2d(x, weight, bias, stride, padding, dilation, int(node.groups))


def _affine(node: nir.Affine | nir.Linear) -> Callable[[torch.Tensor], torch.Tensor]:
    weight = _tensor(node.weight)
    bias = _tensor(node.bias) if isinstance(node, nir.Affine) else None
    return lambda x: F.linear(x, weight, bias)


def _flatten(node: nir.Flatten):
    start = int(node.start_dim) + 1 if int(node.start_dim) >= 0 else int(node.start_dim)
    end = int(node.end_dim) + 1 if int(node.end_dim) >= 0 else int(node.end_dim)
    return lambda x: torch.flatten(x, start, end)


STATELESS = {nir.Conv2d: _conv, nir.Affine: _affine, nir.Linear: _affine, nir.Flatten: _flatten}


def _order(graph: nir.NIRGraph) -> list[str]:
    """Node names in an order where every node comes after its inputs (Kahn's algorithm)."""
    preds = {name: [a for a, b in graph.edges if b == name] for name in graph.nodes}
    done, order = set(), []
    while len(order) < len(graph.nodes):
        ready = [n for n in graph.nodes if n not in done and all(p in done for p in preds[n])]
        if not ready:
            raise ModelError("NIR graph", "has a cycle (recurrent graphs are not supported by this runner)")
        order += ready
        done.update(ready)
    return order


@dataclass
class NIRRunner:
    """Step a NIR graph: ``step(frame [B, C, H, W]) -> {output name: tensor}``; LIF spikes of
    the last step in ``spikes`` (by node name), ties counted per LIF node in ``ties()``."""

    graph: nir.NIRGraph
    dt: float | None = None  # default: the graph's metadata "dt"
    spikes: dict[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self):
        dt = self.dt if self.dt is not None else self.graph.metadata.get("dt")
        if dt is None:
            raise ModelError("NIR graph", "no dt given and none in its metadata")
        self._dt = np.float32(dt)
        self._order = _order(self.graph)
        self._preds = {name: [a for a, b in self.graph.edges if b == name] for name in self.graph.nodes}
        self._ops, self._lifs = {}, {}
        for name, node in self.graph.nodes.items():
            if isinstance(node, nir.LIF):
                self._lifs[name] = _lif(node, self._dt)
            elif type(node) in STATELESS:
                self._ops[name] = STATELESS[type(node)](node)
            elif not isinstance(node, (nir.Input, nir.Output)):
                raise ModelError("NIR graph", f"node {name!r} is a {type(node).__name__}, which this runner "
                                              "does not implement")

    @property
    def lif_names(self) -> list[str]:
        return [n for n in self._order if n in self._lifs]

    def reset(self) -> None:
        for state in self._lifs.values():
            state.v, state.ties = None, 0

    def ties(self) -> dict[str, int]:
        return {name: state.ties for name, state in self._lifs.items()}

    def _lif_step(self, name: str, current: torch.Tensor) -> torch.Tensor:
        s = self._lifs[name]
        v = s.reset.expand_as(current) if s.v is None else s.v  # NIR starts at rest
        v = s.decay * v + s.gain * current + s.leak
        s.ties += int(torch.count_nonzero(v == s.threshold))
        z = (v > s.threshold).to(v.dtype)
        s.v = torch.where(z.bool(), s.reset.expand_as(v), v)
        self.spikes[name] = z
        return z

    @torch.no_grad()
    def step(self, frame: torch.Tensor) -> dict[str, torch.Tensor]:
        values: dict[str, torch.Tensor] = {}
        outputs = {}
        for name in self._order:
            node = self.graph.nodes[name]
            if isinstance(node, nir.Input):
                values[name] = frame.to(torch.float32)
                continue
            preds = self._preds[name]
            x = values[preds[0]]
            for p in preds[1:]:
                x = x + values[p]
            if isinstance(node, nir.Output):
                outputs[name] = x
                values[name] = x
            elif name in self._lifs:
                values[name] = self._lif_step(name, x)
            else:
                values[name] = self._ops[name](x)
        return outputs
