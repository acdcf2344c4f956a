"""Recording a live input: events to ``<stem>.aedat4``, predictions to ``<stem>.predictions.jsonl``.

A ``Recorder`` is both an engine event tap (``write_events``, on the reader thread) and a sink
(``on_prediction``, on the model thread); ``close`` runs on whichever thread stops the
recording (stop button, window closed, camera lost). One lock orders them and ``close`` is
final: nothing is written after it. A failed write (full disk) is kept in ``failure`` instead
of raised, so the input keeps playing and the app can stop the recording and say why. The
.aedat4 is written as ``<stem>.part.aedat4`` and renamed on ``close`` (see ``dvio.AedatWriter``),
so a crash never leaves a half-written file under the final name. A timer thread pushes the
writer's waiting events to the file every ``FLUSH_TICK_S`` even when the input goes quiet, so a
killed process loses at most ~``FLUSH_S`` + ``FLUSH_TICK_S`` of events; the next recording to
the same name recovers what the killed one left (``recovery``). Events arrive from the source
already time-ordered; anything older than what was written is dropped and counted.
"""

from __future__ import annotations

import threading
from pathlib import Path

from r2etl_core.errors import user_message
from r2etl_core.io.dv import AedatWriter
from r2etl_core.io.predictions import JsonlPredictionWriter
from r2etl_core.io.recovery import Recovered, predictions_path_for, recover_interrupted
from r2etl_core.types import EventBatch, Prediction, SpikeSnapshot

__all__ = ["FLUSH_TICK_S", "Recorder", "predictions_path_for"]

FLUSH_TICK_S = 0.1  # how often the timer asks the writer to write events that waited long enough


class Recorder:
    """Records EventBatches (and optionally predictions) of one ``width`` x ``height`` sensor."""

    def __init__(self, path: str | Path, width: int, height: int, camera_name: str = "r2etl",
                 writer=None):
        """``writer``: anything with AedatWriter's ``write``/``close``/counters (tests). A
        recording a killed process left under this name is recovered first (``recovered``)."""
        self.path = Path(path)
        self.predictions_path = predictions_path_for(self.path)
        self.recovered: Recovered | None = recover_interrupted(self.path) if writer is None else None
        self._writer = writer if writer is not None else AedatWriter(self.path, width, height, camera_name)
        self.failure: str | None = None
        self._predictions: JsonlPredictionWriter | None = None  # opened on the first prediction
        self._lock = threading.Lock()
        self._closed = False
        self.predictions_written = 0
        self.finished = False  # the .aedat4 was completed and renamed by close()
        self._stop_flushing = threading.Event()
        if hasattr(self._writer, "flush_if_due"):
            threading.Thread(target=self._flush_loop, name="r2etl-recorder-flush", daemon=True).start()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def events_written(self) -> int:
        return self._writer.events_written

    @property
    def events_dropped(self) -> int:
        return self._writer.events_dropped

    def write_events(self, batch: EventBatch) -> None:
        """Append a batch; ignored after ``close`` (a late batch from a stopping source) or
        after a failed write."""
        with self._lock:
            if self._closed or self.failure is not None:
                return
            try:
                self._writer.write(batch)
            except Exception as exc:  # a full disk must not stop the input itself
                self.failure = user_message(exc)

    def _flush_loop(self) -> None:
        """Write events that waited ``FLUSH_S`` even when no new batch comes to trigger it."""
        while not self._stop_flushing.wait(FLUSH_TICK_S):
            with self._lock:
                if self._closed or self.failure is not None:
                    return
                try:
                    self._writer.flush_if_due()
                except Exception as exc:  # the same as a failed write: keep it, say it later
                    self.failure = user_message(exc)

    def write_prediction(self, prediction: Prediction) -> None:
        """Append one JSON line (``Prediction.to_json``); flushed so a crash keeps it."""
        with self._lock:
            if self._closed or self.failure is not None:
                return
            try:
                if self._predictions is None:
                    self._predictions = JsonlPredictionWriter(self.predictions_path, atomic=False)
                self._predictions.write(prediction)
            except OSError as exc:
                self.failure = user_message(exc)
            else:
                self.predictions_written += 1

    def on_prediction(self, prediction: Prediction, spikes: SpikeSnapshot) -> None:
        """The engine's ``Sink`` face."""
        self.write_prediction(prediction)

    def close(self) -> Path:
        """Finish the .aedat4 (rename from .part) and the predictions file; idempotent. A file
        that cannot be finished (full disk) sets ``failure`` and leaves ``finished`` False: its
        .part keeps what was written, for the next recording to that name to recover."""
        self._stop_flushing.set()
        with self._lock:
            if not self._closed:
                self._closed = True
                try:
                    self._writer.close()
                    self.finished = True
                except Exception as exc:  # raised into the GUI it would only be a traceback
                    self.failure = self.failure or user_message(exc)
                finally:
                    if self._predictions is not None:
                        self._predictions.close()
        return self.path

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
