"""The viewer's session: ``r2etl_core.stream.session.LiveSession`` with Qt signals.

Everything about the input, the model, the engine and the recording lives in the Qt-free
``LiveSession``; this adapter only turns its listener calls into signals and makes background
results (an opened camera, a loaded model) arrive on the GUI thread, so that callbacks may
touch widgets. The GUI reads the engine through ``poll()`` on its display timer.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, Signal

from r2etl_core.stream.settings import EngineConfig
from r2etl_core.stream.pipeline import SourceOpener, open_with_core, read_sidecar
from r2etl_core.stream.session import LiveSession, PreparedModel, SessionListener
from r2etl_core.limits import DENOISE_US
from r2etl_core.types import FrameSpec, Readout, ResetPolicy, SliceByTime

from .tasks import BackgroundTasks

# Outputs kept between display ticks: ~15 s of 30 ms slices, and a bound on memory if the GUI
# stalls (each output holds a full sensor frame: 3.7 MB at 1280x720).
VIEWER_ENGINE = EngineConfig(history=512)

__all__ = ["PreparedModel", "Session", "VIEWER_ENGINE"]


class _Signals(QObject, SessionListener):
    sourceChanged = Signal(object)  # SourceInfo or None
    modelChanged = Signal(object)  # ModelMeta
    errorRaised = Signal(str, bool)  # one-line message, show as a dialog (GUI action) or not
    statusMessage = Signal(str)
    recordingChanged = Signal(str)  # path being written, "" when not recording

    def source_changed(self, info) -> None:
        self.sourceChanged.emit(info)

    def model_changed(self, meta) -> None:
        self.modelChanged.emit(meta)

    def error(self, message: str, dialog: bool) -> None:
        self.errorRaised.emit(message, dialog)

    def status(self, message: str) -> None:
        self.statusMessage.emit(message)

    def recording_changed(self, path: str) -> None:
        self.recordingChanged.emit(path)


class Session(LiveSession):
    """A ``LiveSession`` whose listener is a set of Qt signals, delivered on the GUI thread."""

    def __init__(self, opener: SourceOpener = open_with_core,
                 segment_reader: Callable[[str], list] = read_sidecar,
                 engine_config: EngineConfig = VIEWER_ENGINE, parent: QObject | None = None):
        self.signals = _Signals(parent)
        tasks = BackgroundTasks(self.signals)
        super().__init__(self.signals, opener, segment_reader, engine_config, deliver=tasks.deliver)
        self.tasks = tasks
        self.sourceChanged = self.signals.sourceChanged
        self.modelChanged = self.signals.modelChanged
        self.errorRaised = self.signals.errorRaised
        self.statusMessage = self.signals.statusMessage
        self.recordingChanged = self.signals.recordingChanged

    # -- the controls' words for stream settings (each one new StreamSettings value) ------------
    @property
    def reset_policy(self) -> ResetPolicy:
        return self.settings.reset

    @property
    def denoise(self) -> bool:
        return self.settings.denoise_us is not None

    def set_slice_us(self, slice_us: int) -> None:
        self.update(slicing=SliceByTime(slice_us))

    def set_reset_policy(self, policy: ResetPolicy) -> None:
        self.update(reset=policy)

    def set_readout(self, readout: Readout) -> None:
        self.update(readout=readout)

    def set_denoise(self, on: bool) -> None:
        """Background-activity noise filter in front of the slicer (off by default)."""
        self.update(denoise_us=DENOISE_US if on else None)

    def set_roi(self, roi: FrameSpec | None) -> None:
        self.update(roi=roi)

    def close(self) -> None:
        """Window closing: finish the recording file first, then stop the engine."""
        self.stop_recording("viewer closed")
        super().close()
