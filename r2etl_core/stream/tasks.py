"""Slow, blocking work (opening a camera, connecting, loading a model) on worker threads.

``Tasks.run`` starts a daemon thread and hands its result (or a one-line error) to a callback
through ``deliver``: headless, the callback runs on the worker thread itself; the viewer passes
a ``deliver`` that queues it to the GUI thread. With a key, only the newest task of that key
delivers: an older one that finishes later hands its result to ``discard``. ``wait_idle``
blocks until every delivered callback has run (tests and headless drivers wait on it).
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from r2etl_core.errors import user_message

Deliver = Callable[[Callable[[], None]], None]


def deliver_here(callback: Callable[[], None]) -> None:
    callback()


class Tasks:
    def __init__(self, deliver: Deliver = deliver_here):
        self._deliver = deliver
        self._cond = threading.Condition()
        self.pending = 0  # tasks started whose callback has not run yet
        self._latest: dict[str, int] = {}  # key -> number of the newest task of that key
        self._count = 0

    def run(self, work: Callable[[], Any], on_done: Callable[[Any], None],
            on_error: Callable[[str], None], name: str = "r2etl-task", key: str | None = None,
            discard: Callable[[Any], None] | None = None) -> None:
        """Run ``work`` on a thread; ``on_done(result)`` or ``on_error(message)`` through deliver."""
        with self._cond:
            self.pending += 1
            self._count += 1
            number = self._count
            if key is not None:
                self._latest[key] = number

        def current() -> bool:
            with self._cond:
                return key is None or self._latest.get(key) == number

        def finish(callback: Callable[[], None]) -> None:
            try:
                callback()
            finally:
                with self._cond:
                    self.pending -= 1
                    self._cond.notify_all()

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
            except Exception as exc:  # reported to the user as one line, never raised
                message = user_message(exc)
                self._deliver(lambda: finish(lambda: failed(message)))
            else:
                self._deliver(lambda: finish(lambda: done(result)))

        threading.Thread(target=target, name=name, daemon=True).start()

    def wait_idle(self, timeout_s: float | None = None) -> bool:
        """Block until no task is pending (False on timeout)."""
        with self._cond:
            return self._cond.wait_for(lambda: self.pending == 0, timeout_s)
