"""Recording the viewer's input to .aedat4 (events) with predictions as JSONL beside it.

The engine calls ``write_events`` on its reader thread and ``on_prediction`` on its model
thread, while the GUI thread may ``close()`` at any moment (stop button, window closed,
camera lost). One lock and a closed flag make "close" final: nothing is written after it,
so the file is always finished by the recorder's own ``close()``.
"""

from __future__ import annotations

import threading
from pathlib import Path

from r2etl_core.types import EventBatch, Prediction, SpikeSnapshot

from app.tasks import user_message


class RecordingTap:
    """Engine event tap + sink around ``r2etl_core.io.recorder.Recorder``."""

    def __init__(self, recorder, path: Path):
        self._recorder = recorder
        self.path = path
        self._lock = threading.Lock()
        self._closed = False
        self.events_written = 0
        self.predictions_written = 0
        self.failure: str | None = None  # set when a write failed; the session then stops

    @staticmethod
    def open(path: Path, width: int, height: int, camera_name: str) -> "RecordingTap":
        from r2etl_core.io.recorder import Recorder

        if path.suffix.lower() != ".aedat4":
            path = path.with_suffix(".aedat4")
        return RecordingTap(Recorder(path, width, height, camera_name), path)

    @property
    def predictions_path(self) -> Path:
        return getattr(self._recorder, "predictions_path", self.path.with_suffix(".predictions.jsonl"))

    @property
    def closed(self) -> bool:
        return self._closed

    def write_events(self, batch: EventBatch) -> None:
        with self._lock:
            if not self._closed and self.failure is None:
                try:
                    self._recorder.write_events(batch)
                except Exception as exc:  # a full disk must not stop the input itself
                    self.failure = user_message(exc)
                else:
                    self.events_written += len(batch)

    def on_prediction(self, prediction: Prediction, spikes: SpikeSnapshot) -> None:
        with self._lock:
            if not self._closed and self.failure is None:
                try:
                    self._recorder.write_prediction(prediction)
                except Exception as exc:
                    self.failure = user_message(exc)
                else:
                    self.predictions_written += 1

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._recorder.close()
