"""Work around a PySide6 6.12.0 reference-count bug that aborts a viewer session on Python 3.11.

With PySide6/shiboken6 6.12.0 on Python 3.11, a Qt method that returns nothing (``setText``,
``QTimer.start``, ...) hands back ``None`` without taking a reference, and
``SignalInstance.emit()`` does the same with ``True``/``False``. Every such call from Python
drops one reference to those singletons; pyqtgraph makes hundreds per display tick. On 3.11,
where they are not yet immortal, the count reaches zero and the interpreter aborts with
"Fatal Python error: none_dealloc" / "bool_dealloc" (at the end of the viewer tests, and after
some minutes of a running viewer). They are static objects that are never freed, so adding
references is harmless; we do it only when the leak is measured, and only where the object
layout is the plain CPython one. Python 3.12+ (immortal singletons) needs nothing.
"""

from __future__ import annotations

import ctypes
import sys

HEADROOM = 1 << 40  # references added: ~3 years at 10,000 leaked references per second
_applied: tuple[str, ...] | None = None


def leaking_singletons() -> tuple[str, ...]:
    """Measure which of None / True / False lose references through PySide6 calls."""
    from PySide6.QtCore import QObject, Signal

    class Probe(QObject):
        ping = Signal()

    probe = Probe()
    none_before = sys.getrefcount(None)
    bools_before = sys.getrefcount(True) + sys.getrefcount(False)
    for _ in range(8):
        probe.setObjectName("probe")  # returns void -> None
        probe.ping.emit()  # returns bool
    leaks = []
    if sys.getrefcount(None) < none_before:
        leaks.append("None")
    if sys.getrefcount(True) + sys.getrefcount(False) < bools_before:
        leaks += ["True", "False"]
    return tuple(leaks)


def _refcount_field(obj: object) -> ctypes.c_ssize_t | None:
    field = ctypes.c_ssize_t.from_address(id(obj))
    # sys.getrefcount counts its own argument: the field must read one less, else the layout
    # is not the one we expect (debug build with trace refs, another interpreter) -> hands off
    return field if field.value == sys.getrefcount(obj) - 1 else None


def protect_singletons_from_pyside_leak() -> tuple[str, ...]:
    """Apply the work-around once per process; returns the names it protected."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = ()
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return _applied
    objects = {"None": None, "True": True, "False": False}
    names = leaking_singletons()
    fields = {name: _refcount_field(objects[name]) for name in names}
    if any(field is None for field in fields.values()):
        return _applied
    for field in fields.values():
        field.value += HEADROOM
    _applied = names
    return _applied
