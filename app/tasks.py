"""Run slow, blocking work (opening a camera, connecting, loading a model) off the GUI thread.

The result comes back on the GUI thread through a queued Qt signal, so callbacks may touch
widgets. Only ``R2ETLError`` messages are shown as they are; anything else is reported with
its type so the user still gets one line instead of a frozen window.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from r2etl_core.errors import R2ETLError, user_message  # noqa: F401 (re-used by app modules)


class _Relay(QObject):
    done = Signal(object, object)  # (callback, result)


class BackgroundTasks(QObject):
    """Starts daemon threads and delivers ``on_done(result)`` / ``on_error(message)`` on the
    GUI thread. ``pending`` counts tasks still running (tests wait on it)."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._relay = _Relay()
        self._relay.done.connect(self._deliver)
        self.pending = 0
        self._latest: dict[str, int] = {}  # key -> generation of the newest task of that key
        self._generation = 0

    def run(self, work: Callable[[], Any], on_done: Callable[[Any], None],
            on_error: Callable[[str], None], name: str = "r2etl-viewer-task", key: str | None = None,
            discard: Callable[[Any], None] | None = None) -> None:
        """Run ``work`` on a thread. With ``key``, only the newest task of that key delivers:
        an older one that finishes later (the user chose something else meanwhile) hands its
        result to ``discard`` (e.g. closes the source it opened) and its error to no one."""
        self.pending += 1
        self._generation += 1
        generation = self._generation
        if key is not None:
            self._latest[key] = generation

        def current() -> bool:
            return key is None or self._latest.get(key) == generation

        def done(result: Any) -> None:
            if current():
                on_done(result)
            elif discard is not None:
                discard(result)

        def failed(message: str) -> None:
            if current():
                on_error(message)

        def target() -> None:
            try:
                result = work()
            except Exception as exc:  # reported to the user, never raised into Qt
                self._relay.done.emit(failed, user_message(exc))
            else:
                self._relay.done.emit(done, result)

        threading.Thread(target=target, name=name, daemon=True).start()

    def _deliver(self, callback: Callable[[Any], None], result: Any) -> None:
        self.pending -= 1
        callback(result)
