"""The R2ETL spiking VGG: two input stems (image, events), a shared trunk, a bottleneck LIF.

Multi-step (``step_mode='m'``, input ``[T, B, C, H, W]``) for training; single-step
(``step_mode='s'``, input ``[B, C, H, W]``) with neuron state carried across calls for
streaming. Both give identical outputs for the same input sequence (tested).

LIF as in the method doc: u[t] = 0.5 u[t-1] (1 - s[t-1]) + I[t], s[t] = H(u[t] - 1), hard reset
to 0, triangle surrogate of half-width 1 (spikingjelly's PiecewiseQuadratic with alpha=1).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import torch

# spikingjelly probes for Triton on import; on a CPU-only install torch logs a harmless
# "Triton not available" warning for every probe. Keep the user's terminal clean.
logging.getLogger("torch._library.triton").setLevel(logging.ERROR)
from spikingjelly.activation_based import base, functional, layer, neuron, surrogate  # noqa: E402 (after the logger)
from torch import nn  # noqa: E402

ARCH_NAME = "r2etl-vgg11"
# (out_channels at width 1, stride) of the shared trunk after the 64-channel stem.
TRUNK_CFG: tuple[tuple[int, int], ...] = (
    (128, 2), (256, 1), (256, 2), (512, 1), (512, 2), (512, 1), (512, 2),
)
STEM_CHANNELS = 64
BOTTLENECK_FEATURES = 256


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild the network; stored in the model file's metadata."""

    num_classes: int = 10
    input_size: int = 34  # square frames, pixels
    width: float = 1.0  # channel multiplier: 1.0 = the paper's network
    time_steps: int = 10  # T the network was trained with
    arch: str = ARCH_NAME

    def channels(self, base_channels: int) -> int:
        return max(4, int(round(base_channels * self.width)))

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "ModelConfig":
        known = {k: d[k] for k in ("num_classes", "input_size", "width", "time_steps", "arch") if k in d}
        return ModelConfig(**known)


def make_lif() -> neuron.LIFNode:
    return neuron.LIFNode(
        tau=2.0, decay_input=False, v_threshold=1.0, v_reset=0.0,
        surrogate_function=surrogate.PiecewiseQuadratic(alpha=1.0), detach_reset=False,
    )


class PreResetLIF(base.MemoryModule):
    """LIF like ``make_lif()`` that also keeps the pre-reset potential (for feature alignment).

    ``self.pre_reset`` holds ``[T, B, D]`` (multi-step) or ``[B, D]`` (single-step) after a call.
    """

    def __init__(self):
        super().__init__()
        self.register_memory("v", 0.0)
        self.surrogate = surrogate.PiecewiseQuadratic(alpha=1.0)
        self.pre_reset: torch.Tensor | None = None

    def _step(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v = self.v if isinstance(self.v, torch.Tensor) else torch.zeros_like(x)
        h = 0.5 * v + x
        s = self.surrogate(h - 1.0)
        self.v = h * (1.0 - s)
        return s, h

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        s, self.pre_reset = self._step(x)
        return s

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        spikes, pre = [], []
        for t in range(x_seq.shape[0]):
            s, h = self._step(x_seq[t])
            spikes.append(s)
            pre.append(h)
        self.pre_reset = torch.stack(pre)
        return torch.stack(spikes)


def conv_block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        layer.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        layer.BatchNorm2d(c_out),
        make_lif(),
    )


def trunk_output_size(input_size: int) -> int:
    size = input_size
    for _, stride in TRUNK_CFG:
        size = (size + 2 - 3) // stride + 1
    return size


class R2ETLNet(nn.Module):
    """Two stems + shared spiking VGG trunk + bottleneck LIF + per-step linear readout."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        c_stem = config.channels(STEM_CHANNELS)
        self.stem_img = conv_block(3, c_stem, 1)
        self.stem_evt = conv_block(2, c_stem, 1)
        blocks, c_in = [], c_stem
        for c, stride in TRUNK_CFG:
            c_out = config.channels(c)
            blocks.append(conv_block(c_in, c_out, stride))
            c_in = c_out
        self.trunk = nn.Sequential(*blocks)
        side = trunk_output_size(config.input_size)
        hidden = config.channels(BOTTLENECK_FEATURES)
        self.flatten = layer.Flatten()
        self.fc1 = layer.Linear(c_in * side * side, hidden)
        self.bottleneck = PreResetLIF()
        self.classifier = layer.Linear(hidden, config.num_classes)
        self.set_step_mode("m")

    # -- state -----------------------------------------------------------------------------
    def set_step_mode(self, mode: str) -> None:
        functional.set_step_mode(self, mode)
        self.step_mode = mode

    def reset_state(self) -> None:
        """Forget all neuron state (membrane potentials). The one documented reset call."""
        functional.reset_net(self)

    def reset_copies(self, restart: torch.Tensor) -> None:
        """Forget the state of the batch entries where ``restart`` ([B] bool) is True and keep
        the others: staggered copies of one stream restart from rest at different slices.
        Every LIF here resets to 0, so rest is a zero membrane potential."""
        keep = (~restart).to(torch.float32)
        for module in self.modules():
            v = getattr(module, "v", None)
            if isinstance(module, base.MemoryModule) and isinstance(v, torch.Tensor) and v.dim() > 0:
                module.v = v * keep.view(-1, *([1] * (v.dim() - 1))).to(v.dtype)

    # -- forward ---------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, domain: str = "events") -> torch.Tensor:
        """Logits per step: ``[T, B, K]`` in multi-step mode, ``[B, K]`` in single-step mode."""
        stem = self.stem_evt if domain == "events" else self.stem_img
        return self.head(self.trunk(stem(x)))

    def head(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.bottleneck(self.fc1(self.flatten(features))))

    def forward_aligned(self, x: torch.Tensor, domain: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Multi-step forward for training: (logits [T,B,K], stem spikes [T,B,...],
        bottleneck pre-reset potentials [T,B,D])."""
        stem = self.stem_evt if domain == "events" else self.stem_img
        stem_spikes = stem(x)
        logits = self.head(self.trunk(stem_spikes))
        return logits, stem_spikes, self.bottleneck.pre_reset

    def spiking_layers(self) -> list[tuple[str, nn.Module]]:
        """(name, module) of every spiking layer of the event branch, input to output."""
        named = [("stem", self.stem_evt[2])]
        named += [(f"conv{i + 2}", blk[2]) for i, blk in enumerate(self.trunk)]
        named.append(("bottleneck", self.bottleneck))
        return named


def build_model(config: ModelConfig) -> R2ETLNet:
    if config.arch != ARCH_NAME:
        raise ValueError(f"unknown architecture {config.arch!r} (this version knows {ARCH_NAME!r})")
    return R2ETLNet(config)


INIT_SCHEMES = ("default", "kaiming")


def apply_init_scheme(model: R2ETLNet, scheme: str) -> R2ETLNet:
    """Re-initialise ``model`` in place for training; ``"default"`` leaves torch's init.

    ``"kaiming"`` is the authors' initialisation: every conv weight Kaiming normal with
    ``mode="fan_out"`` (std = sqrt(2 / (out_channels * k * k))), conv biases (where a conv has
    one) zero, batch norms at weight 1 / bias 0. The convs here carry no bias parameter because a
    batch norm follows each one and absorbs any per-channel constant, so the switch changes
    values only, never the parameter set: model files and inference stay as they are.
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r} (known: {', '.join(INIT_SCHEMES)})")
    if scheme == "default":
        return model
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    return model
