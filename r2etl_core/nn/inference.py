"""One binned slice in, one prediction out: a single SNN step with neuron state carried.

No threads here: ``InferenceCore`` is owned by the engine's model thread (binning happens
before, on the reader thread: ``r2etl_core.stream.slicing.bin_to_device``). Neuron state lives
in the model on the device and is carried across ``step`` calls; it is forgotten only through
``request_reset`` or the reset policy, both applied at the start of the next step.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from r2etl_core.nn.meta import ModelMeta
from r2etl_core.nn.captured import CapturedStep
from r2etl_core.nn.model import R2ETLNet
from r2etl_core.nn.readout import ReadoutState
from r2etl_core.nn.unknown import FEATURE, FEATURE_CONV, effective_threshold
from r2etl_core.types import (
    ABSTAIN_NOTHING,
    ABSTAIN_UNKNOWN,
    BinnedSlice,
    EngineOutput,
    EventSlice,
    Prediction,
    Readout,
    ResetPolicy,
    SpikeSnapshot,
    StageTimings,
)

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}

# "no decision" below this smoothed activity (ROI events per slice above the noise floor):
# a few noise standard deviations, and never less than a handful of events
ACTIVITY_NOISE_SDS = 4.0
ACTIVITY_MIN_EVENTS = 3.0


@dataclass(frozen=True)
class CoreConfig:
    """How a core steps, fixed for its life (the model process gets this one value)."""

    device: str = "cpu"
    reset: ResetPolicy = ResetPolicy()  # the first settings; later ones come with the slices
    readout: Readout = Readout()
    frames: bool = True  # the model's input frames in the outputs (views); the CLI needs none
    cuda_graph: bool = True
    precision: str = "fp32"

    def build(self, model: R2ETLNet, meta: ModelMeta) -> "InferenceCore":
        return InferenceCore(model, meta, torch.device(self.device), self.reset, self.readout, self.frames,
                             self.cuda_graph, self.precision)


class InferenceCore:
    """The network, its carried state and the readout; steps slices one run at a time.

    ``step_many`` takes consecutive binned slices. Slices queued together (offline
    classification, or a live stream catching up) run as ONE multi-step forward up to the next
    reset or staggered restart, with the state carried in and out: the same numbers as one
    step at a time, a fraction of the Python and dispatch cost."""

    def __init__(self, model: R2ETLNet, meta: ModelMeta, device: torch.device,
                 reset: ResetPolicy = ResetPolicy(), readout: Readout = Readout(), frames: bool = True,
                 cuda_graph: bool = True, precision: str = "fp32"):
        self.dtype = PRECISIONS[precision]
        self.model = model.to(device=device, dtype=self.dtype).eval()
        self.model.set_step_mode("s")
        self.cuda_graph = cuda_graph and device.type == "cuda"
        self._captured: CapturedStep | None = None
        self._captured_copies = 0
        self.step_label = "eager"  # how steps run: "eager", "CUDA graph", or why capture failed
        self.meta = meta
        self.device = device
        self.reset_policy = reset
        self.frames = frames  # the model's input frames for the views (the CLI needs none)
        self.layer_names = tuple(name for name, _ in model.spiking_layers())
        self._layer_sums: list[torch.Tensor] = []
        self._neurons: list[int] = []
        self._run_steps = 1  # steps in the forward being run (the hooks split by it)
        self._recording = False  # hooks record only during this core's own forward
        for _, module in model.spiking_layers():
            module.register_forward_hook(self._record_spikes)
        self._features: list[torch.Tensor] = []  # the "unknown" detector's feature: fc1's input or output
        model.fc1.register_forward_hook(self._record_features)
        detector = meta.unknown_detector()
        self.detector = detector
        self.feature = detector.feature if detector is not None else FEATURE  # calibration may set it
        self._scorer = detector.torch_scorer(device) if detector is not None else None
        self.keep_features = False  # calibration (train.calibrate): keep every slice's smoothed features
        self.feature_log: list[np.ndarray] = []
        self.readout = ReadoutState(readout, meta.config.time_steps)
        self._pending_reset = True
        self._last_event_us: int | None = None
        self._index = 0

    def _record_spikes(self, _module, _inputs, output: torch.Tensor) -> None:
        if not self._recording:  # another core stepping the same model object (its own hooks)
            return
        out = output.detach()
        self._layer_sums.append(out.reshape(self._run_steps, -1).sum(1))
        if len(self._neurons) < len(self.layer_names):
            self._neurons.append(out.numel() // (self._run_steps * self.readout.copies))

    def _record_features(self, _module, inputs, output: torch.Tensor) -> None:
        if self._recording:
            self._features.append((inputs[0] if self.feature == FEATURE_CONV else output).detach())

    def request_reset(self) -> None:
        self._pending_reset = True

    @property
    def readout_config(self) -> Readout:
        return self.readout.readout

    def close(self) -> None:
        """Nothing to release in-process (a model process stops here)."""

    def set_readout(self, readout: Readout) -> None:
        """Takes effect at the next step, from rest (the copies may change)."""
        self.readout = ReadoutState(readout, self.meta.config.time_steps)
        self._pending_reset = True

    def configure(self, reset: ResetPolicy, readout: Readout) -> None:
        """The settings of the slices about to be stepped (a new readout restarts from rest)."""
        self.reset_policy = reset
        if readout != self.readout_config:
            self.set_readout(readout)

    def _reset_now(self) -> None:
        if self._captured is not None:
            self._captured.reset()  # in place: the graph reads these buffers
        else:
            self.model.reset_state()
        self.readout.reset()
        self._pending_reset = False

    def _ensure_captured(self) -> None:
        """(Re)capture the step for the current number of copies on CUDA (state from rest)."""
        copies = self.readout.copies
        if not self.cuda_graph or copies == self._captured_copies:
            return
        if self._captured is not None:
            self._captured.release()
        size = self.meta.config.input_size
        self._run_steps, self._recording = 1, True  # the capture records the spike sums
        try:
            self._captured, self.step_label = CapturedStep.build(self.model, copies, (2, size, size),
                                                                 self._layer_sums, self._features)
        finally:
            self._recording = False
        self._captured_copies = copies
        self._pending_reset = True

    def _policy_wants_reset(self, sl: EventSlice, steps: int, last_event_us: int | None) -> bool:
        policy = self.reset_policy
        if policy.kind == "window":
            return steps >= (policy.window_slices or self.meta.config.time_steps)
        if policy.kind == "silence" and len(sl.events) and last_event_us is not None:
            return sl.events.t_first_us - last_event_us >= policy.silence_us
        return False

    @property
    def unknown_threshold(self) -> float | None:
        """The distance above which a slice is "unknown"; None when off or uncalibrated."""
        return effective_threshold(self.detector, self.readout.readout.unknown_threshold)

    def _abstain(self, activity: float, noise_sd: float, margin: float, score: float | None) -> str | None:
        """Why no class is given: nothing above the noise in the ROI ("no activity"), or
        something that is none of the classes or no clear winner ("unknown"); None: a class."""
        cfg = self.readout.readout
        floor = cfg.min_activity or max(ACTIVITY_MIN_EVENTS, ACTIVITY_NOISE_SDS * noise_sd)
        if activity < floor:
            return ABSTAIN_NOTHING
        threshold = self.unknown_threshold
        if margin < cfg.min_margin or (threshold is not None and score is not None and score > threshold):
            return ABSTAIN_UNKNOWN
        return None

    def _run_length(self, items: list[BinnedSlice]) -> int:
        """How many of ``items`` can run in one forward: up to the next reset or restart."""
        first = items[0].slice
        resets = self._pending_reset or self._policy_wants_reset(first, self.readout.steps, self._last_event_us)
        steps = 1 if resets else self.readout.steps + 1
        last = first.events.t_last_us if len(first.events) else self._last_event_us
        for j in range(1, len(items)):
            sl = items[j].slice
            if self._policy_wants_reset(sl, steps, last) or self.readout.restart_due(steps):
                return j
            steps += 1
            last = sl.events.t_last_us if len(sl.events) else last
        return len(items)

    @torch.no_grad()
    def step_many(self, items: list[BinnedSlice]) -> list[EngineOutput]:
        """Outputs of consecutive slices (``item.frame``: ``[2, S, S]`` on the model's device)."""
        outputs: list[EngineOutput] = []
        while items:
            n = self._run_length(items)
            outputs += self._run(items[:n])
            items = items[n:]
        return outputs

    def step(self, item: BinnedSlice) -> EngineOutput:
        return self.step_many([item])[0]

    def _forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits with the bottleneck's input current appended ``[N, K, C + D]``, and spikes per
        layer ``[N, layers]`` (summed over the copies) of N consecutive frames ``[N, 2, S, S]``,
        state carried."""
        k, n = self.readout.copies, frames.shape[0]
        frames = frames.to(self.dtype)
        if self._captured is not None:  # one replay per step (0.3 ms on an H100)
            logits, spikes = [], []
            for j in range(n):
                out = self._captured.replay(frames[j].expand(k, *frames.shape[1:]))
                logits.append(torch.cat([out, self._captured.features], dim=-1))
                spikes.append(torch.stack([s.reshape(-1).sum() for s in self._captured.spike_sums]))
            return torch.stack(logits).float(), torch.stack(spikes).float()
        self._run_steps = n
        self._layer_sums.clear()
        self._features.clear()
        self._recording = True
        try:
            if n == 1:
                logits = self.model(frames.expand(k, *frames.shape[1:])).unsqueeze(0)
            else:
                self.model.set_step_mode("m")
                try:
                    logits = self.model(frames.unsqueeze(1).expand(n, k, *frames.shape[1:]))
                finally:
                    self.model.set_step_mode("s")
        finally:
            self._recording = False
        features = self._features[-1].reshape(*logits.shape[:-1], -1)
        return torch.cat([logits, features], dim=-1).float(), torch.stack(self._layer_sums, dim=1).float()

    def _run(self, run: list[BinnedSlice]) -> list[EngineOutput]:
        t3 = time.perf_counter()
        self._ensure_captured()
        first = run[0].slice
        reset = self._pending_reset or self._policy_wants_reset(first, self.readout.steps, self._last_event_us)
        if reset:
            self._reset_now()
        readout = self.readout
        restart = readout.restarts()
        if restart is not None:
            if self._captured is not None:
                self._captured.reset_copies(restart.to(self.device))
            else:
                self.model.reset_copies(restart.to(self.device))
            readout.mark_restarted(restart)
        frames = torch.stack([item.frame for item in run])
        raw, spikes = self._forward(frames)
        chosen, activity = [], []
        for j, item in enumerate(run):
            sl = item.slice
            if len(sl.events):
                self._last_event_us = sl.events.t_last_us
            logits, act = readout.update(raw[j], item.activity, (sl.t_end_us - sl.t_start_us) / 1e3)
            chosen.append(logits)
            activity.append(act)
        chosen = torch.stack(chosen)
        classes = self.meta.config.num_classes
        if self.keep_features:
            self.feature_log.append(chosen[:, classes:].cpu().numpy())
        probs = torch.softmax(chosen[:, :classes], dim=1)
        scores = (self._scorer(chosen[:, classes:]) if self._scorer is not None
                  else torch.full((len(run),), float("nan"), device=chosen.device))
        spikes = spikes / readout.copies  # [N, layers], per copy
        # one device->host copy for everything the views need: a single sync per run on a GPU
        parts = [probs.flatten(), scores.flatten(), spikes.flatten()] + ([frames.flatten()] if self.frames else [])
        packed = torch.cat([part.float() for part in parts]).cpu().numpy()
        model_ms = (time.perf_counter() - t3) * 1e3 / len(run)
        n, k, layers = len(run), probs.shape[1], spikes.shape[1]
        p_all = packed[: n * k].reshape(n, k).astype(float)
        u_all = packed[n * k: n * k + n].astype(float)
        s_all = packed[n * k + n: n * k + n + n * layers].reshape(n, layers)
        f_all = packed[n * k + n + n * layers:].reshape(frames.shape) if self.frames else None
        steps0 = readout.steps - n
        return [self._output(item, p_all[j], s_all[j], None if f_all is None else f_all[j], activity[j],
                             model_ms, steps0 + j + 1, reset and j == 0, u_all[j]) for j, item in enumerate(run)]

    def _output(self, item: BinnedSlice, p: np.ndarray, spike_counts: np.ndarray, model_frame: np.ndarray | None,
                activity: float, model_ms: float, step: int, reset: bool, score: float) -> EngineOutput:
        sl = item.slice
        top2 = np.argsort(p)[-2:]
        top = int(top2[-1])
        margin = float(p[top] - p[top2[0]]) if len(p) > 1 else 1.0
        done = time.monotonic()
        self._index += 1
        pred = Prediction(
            index=self._index, t_start_us=sl.t_start_us, t_end_us=sl.t_end_us,
            event_count=len(sl.events), probabilities=tuple(p.tolist()), top_class=top,
            top_label=self.meta.class_names[top], confidence=float(p[top]),
            timings=StageTimings(sl.read_s * 1e3, item.bin_s * 1e3, item.transfer_s * 1e3, model_ms),
            step_in_window=step, reset_before=reset, wall_time_s=done,
            latency_ms=(done - item.arrived_s) * 1e3,
            abstain=self._abstain(activity, item.noise_sd, margin, None if math.isnan(score) else score),
            activity=activity, margin=margin, unknown_score=None if math.isnan(score) else score,
        )
        spikes = SpikeSnapshot(self._index, sl.t_end_us, self.layer_names,
                               tuple(int(round(v)) for v in spike_counts), tuple(self._neurons))
        # the sensor frame is drawn by the engine, which has the events (a model process has not)
        return EngineOutput(pred, spikes, NO_FRAME, NO_FRAME if model_frame is None else model_frame)


NO_FRAME = np.zeros((2, 0, 0), np.float32)  # offline classification draws nothing
