"""Throughput, latency and drop counters of the running engine, plus the display's own drops."""

from __future__ import annotations

from PySide6.QtWidgets import QFormLayout, QLabel, QWidget

from r2etl_core.types import EngineStats

FIELDS = (
    ("events", "events/s in"),
    ("slices", "slices/s"),
    ("model", "model latency p50 / p99"),
    ("latency", "events -> prediction p50 / p99"),
    ("dropped", "dropped slices (model busy)"),
    ("skipped", "slices not drawn (display)"),
    ("device", "device"),
    ("state", "engine"),
)


def human_rate(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.2f} M"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k"
    return f"{x:.0f}"


class StatsView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.values: dict[str, QLabel] = {}
        form = QFormLayout(self)
        form.setContentsMargins(4, 4, 4, 4)
        form.setVerticalSpacing(2)
        title = QLabel("<b>Engine</b>")
        form.addRow(title)
        for key, text in FIELDS:
            label = QLabel("-")
            label.setStyleSheet("font-family: monospace;")
            # room for the widest value, so the panel is sized before any value arrives
            label.setMinimumWidth(label.fontMetrics().horizontalAdvance("9999.9 / 9999.9 ms"))
            label.setWordWrap(key == "device")  # GPU names can be long
            self.values[key] = label
            form.addRow(text, label)

    def show_stats(self, stats: EngineStats | None, display_skipped: int, paused: bool = False) -> None:
        v = self.values
        if stats is None:
            for label in v.values():
                label.setText("-")
            v["state"].setText("no model loaded")
            return
        v["events"].setText(human_rate(stats.events_per_s))
        v["slices"].setText(f"{stats.slices_per_s:.1f}")
        v["model"].setText(f"{stats.model_ms_p50:.1f} / {stats.model_ms_p99:.1f} ms")
        v["latency"].setText(f"{stats.latency_ms_p50:.1f} / {stats.latency_ms_p99:.1f} ms")
        v["dropped"].setText(f"{stats.dropped} of {stats.dropped + stats.slices_done}")
        v["skipped"].setText(str(display_skipped))
        v["device"].setText(stats.device)
        if stats.error:
            state = "error (see status bar)"
        elif paused:
            state = "paused"
        elif stats.running:
            state = "running"
        elif stats.finished:
            state = "input ended"
        else:
            state = "idle"
        v["state"].setText(state)
