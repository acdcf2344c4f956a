"""The PySide6 6.12.0 None/True/False reference leak must not abort a long viewer session."""

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
from app.qt_compat import protect_singletons_from_pyside_leak
if sys.argv[1] == "protect":
    protect_singletons_from_pyside_leak()
class Probe(QObject):
    ping = Signal(int)
probe = Probe()
for i in range(200_000):  # a few minutes of a viewer's Qt calls
    probe.ping.emit(i)  # returns a bool
    probe.setObjectName("x")  # returns None
"""


def test_many_emits_do_not_abort_the_interpreter():
    done = subprocess.run([sys.executable, "-c", MANY_EMITS, "protect"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]


def test_main_window_applies_the_work_around(qtbot):
    from app.qt_compat import leaking_singletons
    from app.session import Session
    from app.window import MainWindow

    window = MainWindow(Session())
    qtbot.addWidget(window)
    leaks = leaking_singletons() if sys.version_info < (3, 12) else ()
    objects = {"None": None, "True": True, "False": False}
    assert all(sys.getrefcount(objects[name]) > 1 << 39 for name in leaks)
