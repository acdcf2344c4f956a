"""Help > Check this machine: ``r2etl doctor``'s report in a dialog, computed off the GUI thread.

The dialog opens at once with "checking ..." and fills in when the checks finish, so the
window keeps drawing meanwhile. The viewer is itself a Qt window that opened, so the Qt lines
come from this process instead of a child probe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import PySide6
from PySide6.QtCore import qVersion
from PySide6.QtGui import QAction, QFontDatabase
from PySide6.QtWidgets import QApplication, QDialog, QDialogButtonBox, QMainWindow, QPlainTextEdit, QVBoxLayout

from app.tasks import BackgroundTasks
from r2etl_core import doctor

CHECKING = "checking this machine ..."


def viewer_qt_checks(platform: str) -> list[doctor.Check]:
    """The qt and display lines for a running viewer (``platform``: Qt's platform name)."""
    qt = doctor.Check("qt", doctor.OK, f"PySide6 {PySide6.__version__}, Qt {qVersion()}")
    if platform in doctor.HEADLESS_PLATFORMS:
        display = doctor.Check("display", doctor.WARN, f"this window is on Qt's {platform} platform: nothing is "
                                                       "shown", "unset QT_QPA_PLATFORM on the demo screen")
    else:
        display = doctor.Check("display", doctor.OK, f"this window is open (Qt platform {platform})")
    return [qt, display]


class DoctorReport(QDialog):
    """Non-modal, read-only report; ``text()`` for tests."""

    def __init__(self, parent: QMainWindow):
        super().__init__(parent)
        self.setWindowTitle("r2etl doctor")
        self.setModal(False)
        self.view = QPlainTextEdit(CHECKING)
        self.view.setReadOnly(True)
        self.view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view)
        layout.addWidget(buttons)
        self.resize(1150, 340)  # the longest fix fits without scrolling at the usual font size

    def text(self) -> str:
        return self.view.toPlainText()

    def show_text(self, text: str) -> None:
        self.view.setPlainText(text)


class DoctorMenu:
    """The Help menu's doctor action of ``window``; ``dialog`` is the newest report."""

    def __init__(self, window: QMainWindow, recordings: Callable[[], str], model: Callable[[], Path | None]):
        self.window = window
        self.recordings, self.model = recordings, model
        self.tasks = BackgroundTasks(window)
        self.dialog: DoctorReport | None = None
        self.action = QAction("Check this machine (doctor)...", window)
        self.action.setToolTip("The r2etl doctor report: GPU, camera, display, recordings folder, model")
        self.action.triggered.connect(self.run)
        window.menuBar().addMenu("&Help").addAction(self.action)

    def run(self) -> None:
        if self.dialog is None:
            self.dialog = DoctorReport(self.window)
        self.dialog.show_text(CHECKING)
        self.dialog.show()
        self.dialog.raise_()
        # read on the GUI thread, used on the worker: Qt objects stay on their thread
        qt_lines = viewer_qt_checks(QApplication.platformName())
        recordings, model = self.recordings(), self.model()

        def work() -> str:
            return doctor.report_text(doctor.run_checks(recordings, model, display=lambda: qt_lines))

        self.tasks.run(work, self.dialog.show_text, lambda msg: self.dialog.show_text(f"doctor failed: {msg}"),
                       name="r2etl-doctor", key="doctor")
