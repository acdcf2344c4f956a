"""The viewer tells "unknown" (none of the classes) from "nothing there", in the big answer and
in the prediction strip, and the Settings panel can turn "unknown" off."""

from __future__ import annotations

import numpy as np

from app.controls import SettingsPanel
from app.views.palette import UNDECIDED_RGB, UNKNOWN_RGB, class_rgb
from app.views.predictions import PredictionView
from r2etl_core.io.labels import IDLE_LABEL, UNKNOWN_LABEL, LabelSegment
from r2etl_core.types import (ABSTAIN_NOTHING, ABSTAIN_UNKNOWN, EngineOutput, Prediction, Readout, SpikeSnapshot,
                              StageTimings)


def output(i: int, abstain: str | None, top: int = 2) -> EngineOutput:
    probs = tuple(0.9 if k == top else 0.1 / 9 for k in range(10))
    pred = Prediction(i, i * 100, i * 100 + 100, 50, probs, top, str(top), 0.9, StageTimings(0, 0, 0, 0), 1,
                      False, 0.0, 1.0, abstain=abstain, unknown_score=1.0)
    empty = np.zeros((2, 0, 0), np.float32)
    return EngineOutput(pred, SpikeSnapshot(i, 0, (), (), ()), empty, empty)


def test_answer_and_strip_show_unknown_and_nothing_apart(qtbot):
    view = PredictionView()
    qtbot.addWidget(view)
    view.set_classes(tuple(str(k) for k in range(10)))
    view.set_segments([LabelSegment(0, 100, "2"), LabelSegment(100, 200, UNKNOWN_LABEL),
                       LabelSegment(200, 300, IDLE_LABEL)])
    view.add_outputs([output(0, None)])
    assert ">2<" in view.top_label.text() and "match" in view.truth_label.text()
    view.add_outputs([output(1, ABSTAIN_UNKNOWN)])
    assert "?" in view.top_label.text() and "unknown" in view.top_label.text()
    assert "none of the classes" in view.truth_label.text() and "match" in view.truth_label.text()
    view.add_outputs([output(2, ABSTAIN_NOTHING)])
    assert "\u2014" in view.top_label.text() and "no decision" in view.top_label.text()
    assert "nothing there" in view.truth_label.text() and "match" in view.truth_label.text()
    cols = view._strip_columns(list(view.history))
    np.testing.assert_array_equal(cols[0, 1], UNKNOWN_RGB)  # answer row
    np.testing.assert_array_equal(cols[0, 2], UNDECIDED_RGB)
    np.testing.assert_array_equal(cols[1, 1], UNKNOWN_RGB)  # truth row: the "unknown" stretch
    np.testing.assert_array_equal(cols[1, 0], class_rgb(2))
    assert not np.array_equal(UNKNOWN_RGB, UNDECIDED_RGB)


def test_settings_checkbox_turns_unknown_off_and_on(qtbot):
    panel = SettingsPanel()
    qtbot.addWidget(panel)
    assert panel.current_readout() == Readout()
    with qtbot.waitSignal(panel.readoutChanged) as blocker:
        panel.unknown.setChecked(False)
    assert blocker.args[0].unknown_threshold == float("inf") and blocker.args[0].kind == Readout().kind
    with qtbot.waitSignal(panel.readoutChanged) as blocker:
        panel.unknown.setChecked(True)
    assert blocker.args[0] == Readout()
