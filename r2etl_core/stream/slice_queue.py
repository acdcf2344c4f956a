"""The bounded queue between the engine's reader and model threads, with in-band marks.

Binned slices go in from the reader; the model thread takes them out as runs (consecutive
slices cut under the same settings, one multi-step forward) or takes a mark: ``END`` (the
input is over) or ``SEEK`` (a replay jumped: the slices still queued from before it are
dropped when it is put in, and the network starts from rest when it is taken out).
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass

from r2etl_core.types import BinnedSlice

END = "end"
SEEK = "seek"


@dataclass(frozen=True)
class ModelSwap:
    """A mark: from here on, this model (``StreamEngine.adopt``)."""

    core: object
    meta: object  # ModelMeta
    detector: object
    device_label: str


class SliceQueue:
    def __init__(self, capacity: int, max_run: int):
        self.capacity, self.max_run = capacity, max_run
        self._items: collections.deque = collections.deque()
        self._cond = threading.Condition()
        self._closed = False

    def open(self) -> None:
        with self._cond:
            self._items.clear()
            self._closed = False

    def close(self) -> None:
        """Wake every waiter; ``take`` returns None from now on."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def put(self, items: list[BinnedSlice], drop: bool) -> int:
        """Queue ``items``; when full, drop the oldest slices (``drop``: the newest view of the
        world wins) or wait for the model. Returns how many slices were dropped."""
        dropped = 0
        with self._cond:
            for item in items:
                while len(self._items) >= self.capacity and not self._closed:
                    if drop:
                        dropped += self._drop_oldest()
                    else:
                        self._cond.wait(0.1)
                self._items.append(item)
            self._cond.notify_all()
        return dropped

    def _drop_oldest(self) -> int:
        for i, item in enumerate(self._items):
            if isinstance(item, BinnedSlice):
                del self._items[i]
                return 1
        self._items.popleft()  # only marks queued: never more than a few
        return 0

    def mark(self, mark: object) -> None:
        """Queue ``END``, ``SEEK`` or another mark (a model swap); every mark but ``END`` first
        drops the slices queued before it (they belong to the old place, or the old model)."""
        with self._cond:
            if mark is not END:
                self._items = collections.deque(item for item in self._items if item is END)
            self._items.append(mark)
            self._cond.notify_all()

    def take(self) -> list[BinnedSlice] | object | None:
        """A run of slices cut under one set of settings (up to ``max_run``), or a mark;
        None once closed. ``END`` stays queued: every later take returns it too."""
        with self._cond:
            while not self._items and not self._closed:
                self._cond.wait(0.1)
            if self._closed:
                return None
            first = self._items[0]
            if not isinstance(first, BinnedSlice):
                if first is not END:
                    self._items.popleft()
                self._cond.notify_all()
                return first
            run = [self._items.popleft()]
            while (self._items and len(run) < self.max_run and isinstance(self._items[0], BinnedSlice)
                   and self._items[0].settings is first.settings):
                run.append(self._items.popleft())
            self._cond.notify_all()
            return run
