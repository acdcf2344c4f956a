"""Per-layer activity of the running SNN: a layers x time heat map of firing rates and the
current rate of each layer (fraction of its neurons that spiked in the newest slice).

The heat map is logarithmic: a trained network's layers fire at very different rates (a few
percent in the trunk, half of the bottleneck), and on a linear scale only the busiest layer
would show any structure. The bars beside it show the current rates linearly."""

from __future__ import annotations

import collections

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from r2etl_core.types import EngineOutput, SpikeSnapshot

HISTORY_SLICES = 200
LOG_MIN = -2.0  # heat map colours span log10(rate) from 0.01 (and silence) to 1
RATE_MAX = 0.25  # initial range of the "rate now" bars
RESCALE_EVERY = 30  # updates between bar-range adjustments (steady in between)


def log_rates(rates: np.ndarray) -> np.ndarray:
    return np.log10(np.maximum(rates, 10 ** LOG_MIN))


def nice_ceiling(x: float) -> float:
    """Smallest of 1, 2, 5 x 10^k at or above ``x`` (at least 0.001)."""
    x = max(x, 1e-3)
    k = np.floor(np.log10(x))
    for m in (1, 2, 5, 10):
        if m * 10 ** k >= x:
            return float(m * 10 ** k)
    return float(10 ** (k + 1))


class SpikeView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.layer_names: tuple[str, ...] = ()
        self.history: collections.deque[SpikeSnapshot] = collections.deque(maxlen=HISTORY_SLICES)
        self.current = np.zeros(0)
        self._rates = np.zeros((1, HISTORY_SLICES), np.float32)
        self.rate_top = RATE_MAX
        self._updates = 0

        self.heat_plot = pg.PlotWidget()
        self.heat_plot.setMenuEnabled(False)
        self.heat_plot.setMouseEnabled(False, False)
        self.heat_plot.hideButtons()
        self.heat_plot.invertY(True)
        self.heat_plot.setLabel("bottom", "slices ago")
        self.heat = pg.ImageItem(levels=(LOG_MIN, 0))
        self.heat.setColorMap(pg.colormap.get("inferno"))
        self.heat_plot.addItem(self.heat)
        self.colorbar = pg.ColorBarItem(values=(LOG_MIN, 0), colorMap=pg.colormap.get("inferno"),
                                        interactive=False, width=12, label="firing rate")
        self.colorbar.setImageItem(self.heat, insert_in=self.heat_plot.getPlotItem())
        self.colorbar.axis.setTicks([[(np.log10(r), f"{r:g}") for r in (0.01, 0.03, 0.1, 0.3, 1)]])

        self.rate_plot = pg.PlotWidget()
        self.rate_plot.setMenuEnabled(False)
        self.rate_plot.setMouseEnabled(False, False)
        self.rate_plot.hideButtons()
        self.rate_plot.invertY(True)
        self.rate_plot.setLabel("bottom", "rate now")
        self.rate_plot.getAxis("left").setStyle(showValues=False)
        self.rate_plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.rate_plot.setFixedWidth(150)
        self.rate_bars = pg.BarGraphItem(x0=[], y=[], height=0.7, width=[], brush="#ffb347")
        self.rate_plot.addItem(self.rate_bars)

        title = QLabel("<b>Spiking activity per layer</b> (fraction of neurons firing per slice)")
        plots = QHBoxLayout()
        plots.addWidget(self.heat_plot, 1)
        plots.addWidget(self.rate_plot)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(title)
        layout.addLayout(plots, 1)

    def set_layers(self, names: tuple[str, ...]) -> None:
        self.layer_names = tuple(names)
        self.history.clear()
        n = len(names)
        self.current = np.zeros(n)
        ticks = [list(enumerate(short_layer_name(s) for s in names))]
        self.heat_plot.getAxis("left").setTicks(ticks)
        self._rates = np.zeros((max(n, 1), HISTORY_SLICES), np.float32)  # layers x slices, newest last
        self.heat.setImage(log_rates(self._rates), levels=(LOG_MIN, 0))
        self.heat.setRect(QRectF(-HISTORY_SLICES, -0.5, HISTORY_SLICES, max(n, 1)))
        self.heat_plot.setXRange(-HISTORY_SLICES, 0, padding=0)
        self.heat_plot.setYRange(-0.5, n - 0.5, padding=0)
        self.rate_bars.setOpts(x0=np.zeros(n), y=np.arange(n), width=self.current)
        self.rate_plot.setYRange(-0.5, n - 0.5, padding=0)
        self.rate_plot.setXRange(0, self.rate_top, padding=0)
        self._rate_ticks()

    def add_outputs(self, outputs: list[EngineOutput]) -> None:
        if not outputs:
            return
        snap = outputs[-1].spikes
        if snap.layer_names != self.layer_names:
            self.set_layers(snap.layer_names)
        new = [out.spikes for out in outputs][-HISTORY_SLICES:]
        self.history.extend(new)
        counts = np.array([s.spike_counts for s in new], np.float32)
        neurons = np.maximum(np.array(new[-1].neuron_counts, np.float32), 1)
        rates = (counts / neurons).T  # layers x new slices
        self._rates = np.roll(self._rates, -len(new), axis=1)
        self._rates[:, -len(new):] = rates
        self._updates += 1
        if self._updates % RESCALE_EVERY == 1:
            seen = min(len(self.history), HISTORY_SLICES)
            self._rescale(float(self._rates[:, -seen:].max()))
        self.heat.setImage(log_rates(self._rates), autoLevels=False)
        self.current = rates[:, -1].astype(float)
        self.rate_bars.setOpts(width=self.current)

    def _rescale(self, top: float) -> None:
        """Fit the bars' range to the busiest layer, in 1-2-5 steps so it does not jitter."""
        top = nice_ceiling(top)
        if top == self.rate_top:
            return
        self.rate_top = top
        self.rate_plot.setXRange(0, top, padding=0)
        self._rate_ticks()

    def _rate_ticks(self) -> None:
        top = self.rate_top
        self.rate_plot.getAxis("bottom").setTicks([[(0, "0"), (top / 2, f"{top / 2:g}"),
                                                    (top, f"{top:g}")]])


def short_layer_name(name: str) -> str:
    """``trunk.3.lif`` -> ``trunk.3``: the neuron suffix says nothing in this panel."""
    for suffix in (".lif", ".neuron", ".sn"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name
