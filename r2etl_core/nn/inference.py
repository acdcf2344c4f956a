"""One binned slice in, one prediction out: a single SNN step with neuron state carried.

No threads here: ``InferenceCore`` is owned by the engine's model thread (binning happens
before, on the reader thread: ``r2etl_core.stream.slicing.bin_to_device``). Neuron state lives
in the model on the device and is carried across ``step`` calls; it is forgotten only through
``request_reset`` or the reset policy, both applied at the start of the next step.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from r2etl_core.io.modelfile import ModelMeta
from r2etl_core.nn.model import R2ETLNet
from r2etl_core.nn.readout import ReadoutState
from r2etl_core.stream.slicing import sensor_frame
from r2etl_core.types import (
    BinnedSlice,
    EngineOutput,
    EventSlice,
    Prediction,
    Readout,
    ResetPolicy,
    SpikeSnapshot,
    StageTimings,
)

# "no decision" below this smoothed activity (ROI events per slice above the noise floor):
# a few noise standard deviations, and never less than a handful of events
ACTIVITY_NOISE_SDS = 4.0
ACTIVITY_MIN_EVENTS = 3.0


def pick_device(requested: str | None = None) -> torch.device:
    """``requested`` ("cuda", "cuda:1", "cpu") or CUDA when present, else CPU."""
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    n = torch.get_num_threads()
    return f"CPU ({n} thread{'s' if n > 1 else ''})"


class InferenceCore:
    def __init__(self, model: R2ETLNet, meta: ModelMeta, device: torch.device,
                 reset: ResetPolicy = ResetPolicy(), readout: Readout = Readout()):
        self.model = model.to(device).eval()
        self.model.set_step_mode("s")
        self.meta = meta
        self.device = device
        self.reset_policy = reset
        self.layer_names = tuple(name for name, _ in model.spiking_layers())
        self._layer_sums: list[torch.Tensor] = []
        self._neurons: list[int] = []
        for _, module in model.spiking_layers():
            module.register_forward_hook(self._record_spikes)
        self.readout = ReadoutState(readout, meta.config.time_steps)
        self._pending_reset = True
        self._last_event_us: int | None = None
        self._index = 0

    def _record_spikes(self, _module, _inputs, output: torch.Tensor) -> None:
        self._layer_sums.append(output.detach().sum())
        if len(self._neurons) < len(self.layer_names):
            self._neurons.append(int(output[0].numel()))

    def request_reset(self) -> None:
        self._pending_reset = True

    def set_readout(self, readout: Readout) -> None:
        """Takes effect at the next step, from rest (the copies may change)."""
        self.readout = ReadoutState(readout, self.meta.config.time_steps)
        self._pending_reset = True

    def _reset_now(self) -> None:
        self.model.reset_state()
        self.readout.reset()
        self._pending_reset = False

    def _policy_wants_reset(self, sl: EventSlice) -> bool:
        policy = self.reset_policy
        if policy.kind == "window":
            return self.readout.steps >= (policy.window_slices or self.meta.config.time_steps)
        if policy.kind == "silence" and len(sl.events) and self._last_event_us is not None:
            return sl.events.t_first_us - self._last_event_us >= policy.silence_us
        return False

    def _decided(self, activity: float, noise_sd: float, margin: float) -> bool:
        """Abstain when the ROI shows no more than noise or no class clearly wins."""
        cfg = self.readout.readout
        floor = cfg.min_activity or max(ACTIVITY_MIN_EVENTS, ACTIVITY_NOISE_SDS * noise_sd)
        return activity >= floor and margin >= cfg.min_margin

    @torch.no_grad()
    def step(self, item: BinnedSlice) -> EngineOutput:
        """One network step on ``item.frame`` (``[2, S, S]`` on the model's device)."""
        sl, frame = item.slice, item.frame
        t3 = time.perf_counter()
        reset = self._pending_reset or self._policy_wants_reset(sl)
        if reset:
            self._reset_now()
        if len(sl.events):
            self._last_event_us = sl.events.t_last_us
        readout = self.readout
        restart = readout.restarts()
        if restart is not None:
            self.model.reset_copies(restart.to(self.device))
            readout.mark_restarted(restart)
        self._layer_sums.clear()
        batch = frame.unsqueeze(0).expand(readout.copies, *frame.shape)
        logits, activity = readout.update(self.model(batch), item.activity,
                                          (sl.t_end_us - sl.t_start_us) / 1e3)
        probs = torch.softmax(logits, dim=0)
        # one device->host copy for everything the views need (probabilities, per-layer
        # spike counts, the small model-input frame): a single sync per slice on a GPU
        n_layers = len(self._layer_sums)
        packed = torch.cat([probs, torch.stack(self._layer_sums) / readout.copies,
                            frame.flatten()]).cpu().numpy()
        t4 = time.perf_counter()

        k = len(probs)
        model_frame = packed[k + n_layers:].reshape(frame.shape)
        p = packed[:k].astype(float)
        top2 = np.argsort(p)[-2:]
        top = int(top2[-1])
        margin = float(p[top] - p[top2[0]]) if k > 1 else 1.0
        done = time.monotonic()
        self._index += 1
        pred = Prediction(
            index=self._index, t_start_us=sl.t_start_us, t_end_us=sl.t_end_us,
            event_count=len(sl.events), probabilities=tuple(p.tolist()), top_class=top,
            top_label=self.meta.class_names[top], confidence=float(p[top]),
            timings=StageTimings(sl.read_s * 1e3, item.bin_s * 1e3, item.transfer_s * 1e3, (t4 - t3) * 1e3),
            step_in_window=readout.steps, reset_before=reset, wall_time_s=done,
            latency_ms=(done - item.arrived_s) * 1e3,
            decided=self._decided(activity, item.noise_sd, margin), activity=activity, margin=margin,
        )
        spikes = SpikeSnapshot(self._index, sl.t_end_us, self.layer_names,
                               tuple(int(round(v)) for v in packed[k:k + n_layers]), tuple(self._neurons))
        return EngineOutput(pred, spikes, sensor_frame(sl.events), model_frame)
