"""The single-step forward captured as a CUDA graph, with the neuron state in static buffers.

An eager batch-1 step of a spiking VGG is dozens of small kernel launches from Python; on a
GPU that launch overhead, not the arithmetic, sets the latency (measured on an H100: 1.7 ms
eager vs 0.31 ms replayed). A CUDA graph replays the recorded launches in one call, but it
reads and writes fixed addresses, while spikingjelly neurons assign a NEW tensor to ``v``
every step. So the membrane potentials live in static buffers: the graph reads them, runs the
step and copies the new potentials back into them; resets zero them in place.

``CapturedStep.build`` captures, then replays once against an eager step from the same state
and input; if capture fails or the two differ, it returns None with the reason, and the
caller stays eager (and says so in the stats panel).
"""

from __future__ import annotations

import torch
from spikingjelly.activation_based import base

from r2etl_core.nn.model import R2ETLNet

CHECK_ATOL = 1e-4  # logits and potentials: graph vs eager, same state and input


def _memories(model: R2ETLNet) -> list[base.MemoryModule]:
    return [m for m in model.modules() if isinstance(m, base.MemoryModule) and hasattr(m, "v")]


class CapturedStep:
    def __init__(self, model: R2ETLNet, graph: torch.cuda.CUDAGraph, static_in: torch.Tensor,
                 static_out: torch.Tensor, static_v: list[torch.Tensor], spike_sums: list[torch.Tensor],
                 features: torch.Tensor | None = None):
        self.model = model
        self.graph = graph
        self.static_in = static_in
        self.static_out = static_out
        self.static_v = static_v
        self.spike_sums = spike_sums  # per spiking layer, filled by each replay
        self.features = features  # the bottleneck's input current [K, D], filled by each replay
        self.copies = static_in.shape[0]

    @classmethod
    def build(cls, model: R2ETLNet, copies: int, frame_shape: tuple[int, ...],
              layer_sums: list[torch.Tensor],
              features: list[torch.Tensor] | None = None) -> tuple["CapturedStep | None", str]:
        """Capture ``model`` (single-step mode, on a CUDA device) for ``copies`` x ``frame_shape``
        inputs. ``layer_sums`` / ``features`` are the lists the inference core's spike and
        feature hooks append to."""
        features = [] if features is None else features
        try:
            step = cls._capture(model, copies, frame_shape, layer_sums, features)
        except Exception as exc:  # any failure: stay eager, say why
            model.reset_state()
            return None, f"capture failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
        problem = step._differs_from_eager(layer_sums)
        if problem:
            step.release()
            return None, problem
        step.reset()
        return step, "CUDA graph"

    @classmethod
    def _capture(cls, model: R2ETLNet, copies: int, frame_shape: tuple[int, ...],
                 layer_sums: list[torch.Tensor], features: list[torch.Tensor]) -> "CapturedStep":
        device = next(model.parameters()).device
        static_in = torch.zeros((copies, *frame_shape), device=device)
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side), torch.no_grad():
            model.reset_state()
            for _ in range(3):  # warm up: allocations, Triton compilation, state tensors exist
                layer_sums.clear()
                model(static_in)
        torch.cuda.current_stream(device).wait_stream(side)
        memories = _memories(model)
        static_v = [torch.zeros_like(m.v) for m in memories]
        for m, v in zip(memories, static_v):
            m.v = v
        graph = torch.cuda.CUDAGraph()
        layer_sums.clear()
        features.clear()
        with torch.cuda.graph(graph), torch.no_grad():
            static_out = model(static_in)
            for m, v in zip(memories, static_v):
                v.copy_(m.v)
        for m, v in zip(memories, static_v):
            m.v = v  # eager code (and the next capture) sees the static buffers again
        return cls(model, graph, static_in, static_out, static_v, list(layer_sums),
                   features[-1] if features else None)

    def _differs_from_eager(self, layer_sums: list[torch.Tensor]) -> str:
        """Replay once and step eagerly from the same state and input: "" when they agree."""
        x = torch.rand_like(self.static_in) * 3
        start = [torch.rand_like(v) * 0.5 for v in self.static_v]
        for v, s in zip(self.static_v, start):
            v.copy_(s)
        out_graph = self.replay(x).clone()
        v_graph = [v.clone() for v in self.static_v]
        memories = _memories(self.model)
        for m, s in zip(memories, start):
            m.v = s.clone()
        with torch.no_grad():
            layer_sums.clear()
            out_eager = self.model(x)
        v_eager = [m.v for m in memories]
        for m, v in zip(memories, self.static_v):
            m.v = v
        if not torch.allclose(out_graph, out_eager, atol=CHECK_ATOL):
            return "captured step differs from eager: stayed eager"
        if any(not torch.allclose(a, b, atol=CHECK_ATOL) for a, b in zip(v_graph, v_eager)):
            return "captured state differs from eager: stayed eager"
        return ""

    def replay(self, batch: torch.Tensor) -> torch.Tensor:
        """Logits ``[K, C]`` of one step on ``batch`` ``[K, 2, S, S]``; state carried."""
        self.static_in.copy_(batch)
        self.graph.replay()
        return self.static_out

    def reset(self) -> None:
        for v in self.static_v:
            v.zero_()

    def reset_copies(self, restart: torch.Tensor) -> None:
        keep = (~restart).to(self.static_v[0].dtype) if self.static_v else None
        for v in self.static_v:
            v.mul_(keep.view(-1, *([1] * (v.dim() - 1))))

    def release(self) -> None:
        """Give the model its own state handling back (eager from rest)."""
        self.model.reset_state()
        self.graph = None
