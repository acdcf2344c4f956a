"""Drag and drop of event files and N-MNIST folders onto the viewer's window."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QDragEnterEvent, QDropEvent

from r2etl_core.io.eventfiles import is_event_file


def dropped_input(urls) -> str | None:
    """The path to open from dropped ``urls``: the first local event file, N-MNIST ``.bin`` or
    folder (None when nothing dropped can be an input, e.g. a web link or a text file)."""
    for url in urls:
        if not url.isLocalFile():
            continue
        path = Path(url.toLocalFile())
        if path.is_dir() or path.suffix.lower() == ".bin" or is_event_file(path):
            return str(path)
    return None


class FileDrops:
    """Mixin for a QWidget with ``open_dropped(path)``: accepts drags that hold an input."""

    def enable_drops(self) -> None:
        self.setAcceptDrops(True)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt naming
        if event.mimeData().hasUrls() and dropped_input(event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt naming
        path = dropped_input(event.mimeData().urls()) if event.mimeData().hasUrls() else None
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_dropped(path)
