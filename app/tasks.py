"""Background work for the viewer: ``r2etl_core.stream.tasks.Tasks`` delivering on the GUI thread.

The work runs on a daemon thread; its callback comes back through a queued Qt signal, so it
may touch widgets. Only ``R2ETLError`` messages are shown as they are; anything else is
reported with its type so the user still gets one line instead of a frozen window.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, Signal

from r2etl_core.errors import R2ETLError, user_message  # noqa: F401 (re-used by app modules)
from r2etl_core.stream.tasks import Tasks


class _Relay(QObject):
    done = Signal(object)  # a callback to run on the GUI thread

    def run(self, callback: Callable[[], None]) -> None:  # a method of a GUI-thread object: queued
        callback()


class BackgroundTasks(Tasks):
    """``Tasks`` whose callbacks run on the thread of ``parent`` (the GUI thread). ``pending``
    counts tasks whose callback has not run yet (tests wait on it)."""

    def __init__(self, parent: QObject | None = None):
        self._relay = _Relay(parent)
        self._relay.done.connect(self._relay.run)
        super().__init__(self.deliver)

    def deliver(self, callback: Callable[[], None]) -> None:
        self._relay.done.emit(callback)
