"""The network in its own process, for the viewer.

Python threads share one interpreter lock. In the viewer the GUI thread holds it while it
paints (pyqtgraph paints from Python), and an eager SNN step is many small Python calls, so
every paint stalls the model: measured on the 2-core dev machine, the viewer's events-to-
prediction p99 was 3-4x the headless one. Here the source, slicing and binning stay in the
app's process (the recorder and the playback controls need them there) and only the
``InferenceCore`` moves to a child process, which no paint can stall. Per run of slices one
message goes each way: the binned frames and the few event facts the core needs out, the
predictions back. ``RemoteCore`` has the inference core's interface, so the engine does not
know which one it drives; the child gets one frozen ``CoreConfig``.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
from pathlib import Path

import torch

from r2etl_core.errors import R2ETLError
from r2etl_core.nn.inference import NO_FRAME, CoreConfig
from r2etl_core.nn.meta import ModelMeta
from r2etl_core.types import BinnedSlice, EngineOutput, EventSlice, Readout, ResetPolicy

START_TIMEOUT_S = 120.0  # importing torch and loading the model in a fresh interpreter
STEP_TIMEOUT_S = 30.0


@dataclasses.dataclass(frozen=True)
class EventFacts:
    """What the inference core reads of a slice's events (the events stay in the app)."""

    count: int
    t_first_us: int
    t_last_us: int

    def __len__(self) -> int:
        return self.count


def _facts(item: BinnedSlice) -> BinnedSlice:
    ev = item.slice.events
    light = EventSlice(item.slice.t_start_us, item.slice.t_end_us,
                       EventFacts(len(ev), ev.t_first_us, ev.t_last_us), item.slice.read_s)
    frame = item.frame.detach().cpu().numpy() if isinstance(item.frame, torch.Tensor) else item.frame
    return dataclasses.replace(item, slice=light, frame=frame)


def _serve(conn, model_path: str, config: CoreConfig) -> None:
    """The child: load the model, then step runs of slices until told to stop."""
    from r2etl_core.io.modelfile import load_model
    from r2etl_core.nn.device import device_name

    try:
        torch.set_num_threads(1)
        model, meta = load_model(model_path)
        core = config.build(model, meta)
        conn.send(("ready", core.layer_names, device_name(core.device), core.step_label))
    except Exception as exc:  # the parent reports it as the engine's error
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    while True:
        message = conn.recv()
        if message[0] == "close":
            return
        _, reset, settings, items = message
        if reset:
            core.request_reset()
        core.configure(*settings)
        try:
            run = [dataclasses.replace(it, frame=torch.from_numpy(it.frame).to(core.device)) for it in items]
            outs = core.step_many(run)
            conn.send(("ok", [(o.prediction, o.spikes, o.model_frame) for o in outs], core.step_label))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class RemoteCore:
    """``InferenceCore``'s interface, served by a child process."""

    def __init__(self, model_path: str | Path, meta: ModelMeta, config: CoreConfig):
        self.meta = meta
        self.device = torch.device(config.device)
        self.reset_policy, self.readout_config = config.reset, config.readout
        self._reset = False
        ctx = mp.get_context("spawn")  # never fork a process that runs Qt and torch threads
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve, args=(child, str(model_path), config),
                                    name="r2etl-model", daemon=True)
        self._process.start()
        child.close()
        reply = self._receive(START_TIMEOUT_S, "start")
        self.layer_names, self.device_label, self.step_label = reply[1], reply[2], reply[3]

    def _receive(self, timeout_s: float, what: str):
        if not self._conn.poll(timeout_s):
            self.close()
            raise R2ETLError(f"model process: no answer to {what} within {timeout_s:.0f} s")
        try:
            reply = self._conn.recv()
        except EOFError:
            raise R2ETLError("model process ended unexpectedly") from None
        if reply[0] == "error":
            raise R2ETLError(f"model process: {reply[1]}")
        return reply

    # -- the InferenceCore interface -----------------------------------------------------------
    def request_reset(self) -> None:
        self._reset = True

    def configure(self, reset: ResetPolicy, readout: Readout) -> None:
        """Sent with the next run of slices."""
        self.reset_policy, self.readout_config = reset, readout

    def step_many(self, items: list[BinnedSlice]) -> list[EngineOutput]:
        reset, self._reset = self._reset, False
        self._conn.send(("steps", reset, (self.reset_policy, self.readout_config), [_facts(it) for it in items]))
        _, results, self.step_label = self._receive(STEP_TIMEOUT_S, "a step")
        return [EngineOutput(pred, spikes, NO_FRAME, NO_FRAME if frame is None else frame)
                for pred, spikes, frame in results]

    def close(self) -> None:
        if self._process.is_alive():
            try:
                self._conn.send(("close",))
            except (BrokenPipeError, OSError):
                pass
            self._process.join(5)
            if self._process.is_alive():
                self._process.terminate()
        self._conn.close()


def make_core(model, meta: ModelMeta, config: CoreConfig, model_path: str | Path | None = None):
    """(core, device label): in a model process that loads ``model_path`` when one is given,
    else in this process on ``model``."""
    if model_path is not None:
        core = RemoteCore(model_path, meta, config)
        return core, f"{core.device_label}, own process"
    from r2etl_core.nn.device import device_name

    core = config.build(model, meta)
    return core, device_name(core.device)
