"""Small dialogs: choosing inputs and models, and showing errors without blocking the GUI."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget

from r2etl_core.errors import InputError
from r2etl_core.io.eventfiles import EVENT_FILE_FORMATS
from r2etl_core.parse import parse_host_port

RECORDING_FILTER = ";;".join([
    "Event recordings (" + " ".join(f"*{s}" for s in (*EVENT_FILE_FORMATS, ".bin")) + ")",
    *(f"{name} (" + " ".join(f"*{s}" for s, n in EVENT_FILE_FORMATS.items() if n == name) + ")"
      for name in dict.fromkeys(EVENT_FILE_FORMATS.values())),
    "N-MNIST sample (*.bin)", "All files (*)"])
MODEL_FILTER = "r2etl models (*.safetensors);;All files (*)"


def ask_recording(parent: QWidget, start_dir: str = "") -> str | None:
    path, _ = QFileDialog.getOpenFileName(parent, "Open an event recording", start_dir, RECORDING_FILTER)
    return path or None


def ask_nmnist_folder(parent: QWidget, start_dir: str = "") -> str | None:
    path = QFileDialog.getExistingDirectory(parent, "Open an N-MNIST folder (.bin samples)", start_dir)
    return path or None


def ask_model(parent: QWidget, start_dir: str = "") -> str | None:
    path, _ = QFileDialog.getOpenFileName(parent, "Open an r2etl model", start_dir, MODEL_FILTER)
    return path or None


def ask_record_path(parent: QWidget, start_dir: str = "") -> str | None:
    default = str(Path(start_dir or ".") / time.strftime("r2etl-%Y%m%d-%H%M%S.aedat4"))
    path, _ = QFileDialog.getSaveFileName(parent, "Record to", default, "AEDAT4 (*.aedat4)")
    return path or None


def valid_host_port(text: str) -> bool:
    try:
        parse_host_port(text)
    except InputError:
        return False
    return True


def ask_host_port(parent: QWidget, last: str = "127.0.0.1:7777") -> str | None:
    """``HOST:PORT`` of a dv-processing network event stream; re-asks on a malformed entry."""
    text = last
    while True:
        text, ok = QInputDialog.getText(
            parent, "Connect to a network stream",
            "Event stream server (HOST:PORT), e.g. a DV software TCP output:", text=text)
        if not ok:
            return None
        if valid_host_port(text):
            return text.strip()
        QMessageBox.warning(parent, "Connect", f"'{text}' is not HOST:PORT (e.g. 192.168.1.20:7777)")


def ask_camera(parent: QWidget, serials: list[str]) -> str | None:
    """``camera:SERIAL`` for one of the discovered ``serials`` (no question when only one)."""
    if len(serials) == 1:
        return f"camera:{serials[0]}" if serials[0] else "camera"
    choice, ok = QInputDialog.getItem(parent, "Pick a camera", "Event camera:", serials, 0, False)
    if not ok:
        return None
    return f"camera:{choice}" if choice else "camera"


class ErrorDialogs:
    """Non-modal error boxes: the display timer keeps running while one is open, and tests can
    read ``last`` instead of having to click a modal dialog away."""

    def __init__(self, parent: QWidget):
        self._parent = parent
        self.last: QMessageBox | None = None

    def show(self, message: str, title: str = "r2etl-viewer") -> QMessageBox:
        if self.last is not None:
            self.last.close()
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok,
                          self._parent)
        box.setModal(False)
        box.show()
        self.last = box
        return box
