"""The PySide6 6.12.0 emit() reference leak must not crash a long viewer session."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

pytest.importorskip("pytestqt")

REPO = Path(__file__).resolve().parent.parent
MANY_EMITS = """
import sys
from PySide6.QtCore import QCoreApplication, QObject, Signal
app = QCoreApplication([])
from app.qt_compat import protect_bools_from_emit_leak
if sys.argv[1] == "protect":
    protect_bools_from_emit_leak()
class Probe(QObject):
    ping = Signal(int)
probe = Probe()
for i in range(100_000):  # ~6 minutes of a viewer at 30 Hz
    probe.ping.emit(i)
"""


def test_many_emits_do_not_abort_the_interpreter():
    done = subprocess.run([sys.executable, "-c", MANY_EMITS, "protect"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]


def test_main_window_applies_the_work_around(qtbot):
    from app.qt_compat import emit_drops_bool_references
    from app.session import Session
    from app.window import MainWindow

    window = MainWindow(Session())
    qtbot.addWidget(window)
    leaky = sys.version_info < (3, 12) and emit_drops_bool_references()
    assert not leaky or sys.getrefcount(True) > 1 << 39
