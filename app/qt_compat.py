"""Work around a PySide6 6.12.0 reference-count bug that would crash a long viewer session.

``SignalInstance.emit()`` called from Python returns ``True`` (or ``False``) without taking a
reference, so every ``emit`` from Python code (pyqtgraph emits several per ``setImage``) drops
one reference to the bool it returns. On Python 3.11, where ``True``/``False`` are not yet
immortal, their count reaches zero after some thousands of emits and the interpreter aborts
with "Fatal Python error: bool_dealloc" (seen at exit of the viewer tests, and within minutes
of a running viewer). The bools are static objects that are never freed, so topping up their
counts is harmless; we do it only when the leak is measured, and only where the object layout
is the plain CPython one. Python 3.12+ (immortal bools) needs nothing.
"""

from __future__ import annotations

import ctypes
import sys

HEADROOM = 1 << 40  # references added: ~100 years at 300 leaked emits per second
_done = False


def emit_drops_bool_references() -> bool:
    """Measure: does emitting a signal from Python drop a reference to True/False?"""
    from PySide6.QtCore import QObject, Signal

    class Probe(QObject):
        ping = Signal()

    probe = Probe()
    before = sys.getrefcount(True) + sys.getrefcount(False)
    for _ in range(8):
        probe.ping.emit()
    return sys.getrefcount(True) + sys.getrefcount(False) < before


def _refcount_field(obj: object) -> ctypes.c_ssize_t | None:
    field = ctypes.c_ssize_t.from_address(id(obj))
    # sys.getrefcount counts its own argument: the field must read one less, else the layout
    # is not the one we expect (debug build with trace refs, another interpreter) -> hands off
    return field if field.value == sys.getrefcount(obj) - 1 else None


def protect_bools_from_emit_leak() -> bool:
    """Apply the work-around once per process; True when it was needed and applied."""
    global _done
    if _done or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    _done = True
    if not emit_drops_bool_references():
        return False
    fields = [_refcount_field(True), _refcount_field(False)]
    if any(f is None for f in fields):
        return False
    for field in fields:
        field.value += HEADROOM
    return True
