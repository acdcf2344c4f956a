"""The prediction log: one JSON line per slice (``Prediction.to_json``), the format of
``r2etl classify --out`` and of a recording's ``<stem>.predictions.jsonl``.

One writer for both, so the two files read the same way (``json.loads`` per line, default
separators). ``atomic=True`` (classify) writes beside the path and renames on ``commit()``: an
interrupted run never replaces a good file. ``atomic=False`` (recorder) writes the path itself and
flushes every line: a crash keeps what was written, for ``recovery`` to trim.
"""

from __future__ import annotations

import json
from pathlib import Path

from r2etl_core.io.files import AtomicFile, check_output_path
from r2etl_core.types import Prediction


def prediction_line(prediction: Prediction) -> str:
    return json.dumps(prediction.to_json()) + "\n"


class JsonlPredictionWriter:
    """A sink writing one JSON line per prediction to ``path``."""

    def __init__(self, path: str | Path, atomic: bool = True):
        self._target: AtomicFile | None = None
        if atomic:
            self.path = check_output_path(path, "predictions file")
            self._target = AtomicFile(self.path)
            self._f = open(self._target.tmp, "w", encoding="utf-8")
        else:
            self.path = Path(path)
            self._f = open(self.path, "w", encoding="utf-8")

    def write(self, prediction: Prediction) -> None:
        self._f.write(prediction_line(prediction))
        if self._target is None:
            self._f.flush()

    def on_prediction(self, prediction: Prediction, spikes) -> None:
        """The engine's ``Sink`` face."""
        self.write(prediction)

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()

    def commit(self) -> None:
        """Close and move the file into place (atomic writers; a no-op rename otherwise)."""
        self.close()
        if self._target is not None:
            self._target.commit()

    def discard(self) -> None:
        """Close and remove what an atomic writer wrote (a direct writer keeps its lines)."""
        self.close()
        if self._target is not None:
            self._target.discard()
