"""A dark Fusion palette so the controls match the dark plots (events read best on black)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

COLOURS = {
    QPalette.ColorRole.Window: "#1b1f26",
    QPalette.ColorRole.WindowText: "#d8dde6",
    QPalette.ColorRole.Base: "#101318",
    QPalette.ColorRole.AlternateBase: "#232833",
    QPalette.ColorRole.Text: "#d8dde6",
    QPalette.ColorRole.Button: "#2a303b",
    QPalette.ColorRole.ButtonText: "#e6eaf0",
    QPalette.ColorRole.Highlight: "#3d7bd9",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.ToolTipBase: "#2a303b",
    QPalette.ColorRole.ToolTipText: "#e6eaf0",
    QPalette.ColorRole.PlaceholderText: "#8a93a3",
}


def apply_dark_theme(app: QApplication) -> None:
    if app.property("r2etl_theme"):
        return
    app.setStyle("Fusion")
    palette = QPalette()
    for role, colour in COLOURS.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b7280"))
    app.setPalette(palette)
    app.setProperty("r2etl_theme", True)
