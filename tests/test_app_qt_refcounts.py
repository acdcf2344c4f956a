"""Guard against the PySide6 6.12.0 bug that aborted viewer sessions on Python 3.11.

PySide6/shiboken6 6.12.0 returned None from void methods and True/False from
``SignalInstance.emit()`` without taking a reference; pyqtgraph makes hundreds of such calls
per display tick, so after minutes the interpreter died with "Fatal Python error:
none_dealloc/bool_dealloc". We pin a PySide6 without the bug; this test fails if an upgrade
brings it back.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MANY_CALLS = """
import sys
from PySide6.QtCore import QCoreApplication, QObject, Signal
app = QCoreApplication([])
class Probe(QObject):
    ping = Signal(int)
probe = Probe()
n0, b0 = sys.getrefcount(None), sys.getrefcount(True) + sys.getrefcount(False)
for i in range(200_000):  # minutes of a viewer's Qt calls
    probe.ping.emit(i)  # returns a bool
    probe.setObjectName("x")  # returns None
lost = (n0 - sys.getrefcount(None), b0 - sys.getrefcount(True) - sys.getrefcount(False))
print(lost)
sys.exit(1 if max(lost) > 1000 else 0)
"""


def test_qt_calls_do_not_leak_references_to_singletons():
    done = subprocess.run([sys.executable, "-c", MANY_CALLS], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, (done.stdout, done.stderr[-500:])
