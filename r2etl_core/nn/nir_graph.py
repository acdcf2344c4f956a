"""The event branch of an ``R2ETLNet`` as a NIR graph (Neuromorphic Intermediate Representation).

Building the graph only; the file is written by ``r2etl_core.io.nir_export``.

NIR has no BatchNorm node, so every batch norm is folded into the convolution before it (the
convs carry no bias: the folded bias is the batch norm's shift). r2etl's neuron, after
spikingjelly's discrete update with ``decay_input=False`` and a hard reset to ``v_reset``,

    v[t] = v[t-1] - (v[t-1] - v_reset) / tau + I[t]        (tau = 2: v = 0.5 v + I)

is NIR's ``tau dv/dt = (v_leak - v) + r I`` under a forward-Euler step of ``dt``:
``v += dt / tau_nir * (v_leak - v + r I)``, which is the same update with ``tau_nir = tau dt``,
``r = tau`` and ``v_leak = v_reset``. One step of ``dt`` is one time slice of events (the
model's ``slice_us``); only ``tau_nir / dt`` matters to the dynamics, so ``dt`` defaults to
1e-4 s, the step snnTorch's importer assumes (hard-coded) and spikingjelly's importer and the
NIR paper's examples default to: any other ``dt`` is as right, but then that consumer rescales
the leak and the input. One difference NIR cannot express: spikingjelly fires at ``v >= v_threshold``, NIR at
``v > v_threshold``; the verifier counts the ties (a potential exactly at threshold).
"""

from __future__ import annotations

import json

import nir
import numpy as np
import torch
from spikingjelly.activation_based import neuron
from torch import nn

from r2etl_core import __version__
from r2etl_core.errors import ModelError
from r2etl_core.nn.meta import ModelMeta
from r2etl_core.limits import NIR_DT_S
from r2etl_core.nn.model import PreResetLIF, R2ETLNet

DEFAULT_DT = NIR_DT_S  # seconds of NIR time per slice (see the module docstring)
FORMAT_NAME = "r2etl-nir"
FORMAT_VERSION = 1
PRE_RESET_TAU = 2.0  # PreResetLIF's leak: h = 0.5 v + x (r2etl_core/nn/model.py)
CROP_RULE = ("centred square of side min(width, height) of the sensor, scaled to input_size x input_size "
             "(x_out = x * input_size // side), counts multiplied by (input_size / side)^2 when side != input_size")
CHANNELS = "channel 0: ON events (polarity 1), channel 1: OFF events (polarity 0); values are event counts per slice"


def fold_batchnorm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[np.ndarray, np.ndarray]:
    """(weight, bias) of the one convolution equal to ``bn(conv(x))`` in eval mode; computed in
    float64 so the fold adds no rounding of its own before the final cast."""
    scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.detach().double() + bn.eps)
    weight = conv.weight.detach().double() * scale.view(-1, 1, 1, 1)
    bias = bn.bias.detach().double() - bn.running_mean.detach().double() * scale
    if conv.bias is not None:
        bias = bias + conv.bias.detach().double() * scale
    return weight.float().numpy(), bias.float().numpy()


def lif_parameters(module: nn.Module) -> tuple[float, float, float, float]:
    """(tau in steps, r, v_threshold, v_reset) of a spiking layer, or ModelError if NIR's LIF
    cannot express it (soft reset)."""
    if isinstance(module, PreResetLIF):
        return PRE_RESET_TAU, PRE_RESET_TAU, 1.0, 0.0
    if isinstance(module, neuron.LIFNode):
        if module.v_reset is None:
            raise ModelError("model", "a soft-reset LIF has no NIR equivalent (NIR resets to v_reset)")
        tau = float(module.tau)
        r = tau if not module.decay_input else 1.0
        return tau, r, float(module.v_threshold), float(module.v_reset)
    raise ModelError("model", f"no NIR mapping for the spiking layer {type(module).__name__}")


def lif_node(module: nn.Module, shape: tuple[int, ...], dt: float) -> nir.LIF:
    tau, r, threshold, reset = lif_parameters(module)
    # tau_nir = tau * dt in float32 exactly as a float32 consumer computes it, so that dt / tau_nir
    # is exactly 1 / tau (0.5) and the leak carries no rounding
    dt32 = np.float32(dt)

    def full(value) -> np.ndarray:
        return np.full(shape, value, dtype=np.float32)

    return nir.LIF(tau=full(np.float32(tau) * dt32), r=full(r), v_leak=full(reset),
                   v_threshold=full(threshold), v_reset=full(reset))


def conv_node(conv: nn.Conv2d, bn: nn.BatchNorm2d, side: int) -> tuple[nir.Conv2d, int]:
    weight, bias = fold_batchnorm(conv, bn)
    node = nir.Conv2d(input_shape=(side, side), weight=weight, stride=conv.stride, padding=conv.padding,
                      dilation=conv.dilation, groups=conv.groups, bias=bias)
    return node, int(node.output_type["output"][-1])


def affine_node(linear: nn.Linear) -> nir.Affine:
    bias = linear.bias.detach() if linear.bias is not None else torch.zeros(linear.out_features)
    return nir.Affine(weight=linear.weight.detach().float().numpy(), bias=bias.float().numpy())


def event_branch_nodes(model: R2ETLNet, dt: float) -> list[tuple[str, nir.NIRNode]]:
    """(name, node) of the event branch, input to output; LIF nodes carry the names of
    ``model.spiking_layers()`` so spikes can be compared layer by layer."""
    side = model.config.input_size
    blocks = [model.stem_evt, *model.trunk]
    names = [name for name, _ in model.spiking_layers()]
    nodes: list[tuple[str, nir.NIRNode]] = []
    for name, block in zip(names, blocks):
        conv, bn, lif = block
        node, side = conv_node(conv, bn, side)
        channels = int(conv.out_channels)
        nodes += [(f"{name}_conv", node), (name, lif_node(lif, (channels, side, side), dt))]
    flat_in = np.array([channels, side, side])
    nodes.append(("flatten", nir.Flatten(input_type={"input": flat_in}, start_dim=0, end_dim=-1)))
    nodes.append(("fc1", affine_node(model.fc1)))
    nodes.append((names[-1], lif_node(model.bottleneck, (model.fc1.out_features,), dt)))
    nodes.append(("classifier", affine_node(model.classifier)))
    return nodes


def graph_metadata(meta: ModelMeta, dt: float = DEFAULT_DT, source_model: str = "", source_sha256: str = "") -> dict:
    """Flat metadata (NIR's reader reads one level): what a consumer needs to feed the graph;
    ``source_model`` and ``source_sha256`` name the model file it came from, if any."""
    s = meta.slicing
    return {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "r2etl_version": __version__,
        "dt": float(dt),
        "dt_meaning": "seconds of NIR time per step; one step is one slice of events (slice_us of real time "
                      "or events_per_slice events); run the graph with this dt",
        "slicing_mode": s.mode, "slice_us": int(s.slice_us), "events_per_slice": int(s.events_per_slice),
        "input_size": int(meta.config.input_size), "input_shape": "2 x input_size x input_size (C, H, W)",
        "input_channels": CHANNELS, "crop": CROP_RULE,
        "sensor_width": int(s.sensor_width), "sensor_height": int(s.sensor_height),
        # a JSON list: nir reads a list of strings back as an array of bytes
        "class_names": json.dumps(list(meta.class_names)), "time_steps_trained": int(meta.config.time_steps),
        "neuron": "LIF, forward Euler with dt: v = (1 - dt/tau) v + dt/tau r I = 0.5 v + I; hard reset to v_reset",
        "threshold_rule": "the source model fires at v >= v_threshold (spikingjelly); NIR says v > v_threshold",
        "output": "classifier: logits per time step (no output neuron); the prediction is a readout over steps",
        "source_model": source_model, "source_sha256": source_sha256,
    }


def build_nir_graph(model: R2ETLNet, meta: ModelMeta, dt: float = DEFAULT_DT, source_model: str = "",
                    source_sha256: str = "") -> nir.NIRGraph:
    """The event branch as a sequential NIR graph with the slicing in its metadata (the model
    file's name and hash: ``r2etl_core.io.nir_export.model_file_graph``)."""
    if not dt > 0:
        raise ValueError(f"dt must be positive, got {dt}")
    model = model.eval()
    metadata = graph_metadata(meta, dt, source_model, source_sha256)
    named = event_branch_nodes(model.cpu(), dt)
    size = meta.config.input_size
    nodes: dict[str, nir.NIRNode] = {"input": nir.Input(input_type={"input": np.array([2, size, size])})}
    nodes.update(named)
    nodes["output"] = nir.Output(output_type={"output": np.array([meta.config.num_classes])})
    order = list(nodes)
    edges = list(zip(order[:-1], order[1:]))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)
