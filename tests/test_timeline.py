"""The whole-recording timeline: one colour rule with the prediction strip, the same answers
as `r2etl classify`, cancel, the PNG of `classify --plot`, and the viewer's widget."""

from __future__ import annotations

import json
import os
import threading

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import PROJECT_RECORDINGS  # noqa: E402

from r2etl_core.stream.colours import NO_DATA_RGB, UNDECIDED_RGB, UNKNOWN_RGB, answer_rgb, label_rgb  # noqa: E402
from r2etl_core.stream.timeline import Timeline, compute_timeline, plot_timeline  # noqa: E402
from r2etl_core.types import ABSTAIN_NOTHING, ABSTAIN_UNKNOWN, Prediction, StageTimings  # noqa: E402

DEMO = PROJECT_RECORDINGS / "nmnist-demo.aedat4"
CLASSES = ("a", "b", "c")


def pred(i: int, top: int = 0, conf: float = 0.9, abstain=None, events: int = 10) -> Prediction:
    probs = tuple(conf if k == top else (1 - conf) / 2 for k in range(3))
    return Prediction(i, 1_000 + i * 100, 1_000 + (i + 1) * 100, events, probs, top, CLASSES[top], conf,
                      StageTimings(0, 0, 0, 0), 1, False, 0.0, 0.0, abstain)


class Seg:
    def __init__(self, start_us, end_us, label):
        self.start_us, self.end_us, self.label = start_us, end_us, label


def test_one_column_per_slice_has_the_strips_colour():
    preds = [pred(0, 0, 0.9), pred(1, 1, 0.5), pred(2, abstain=ABSTAIN_UNKNOWN), pred(3, abstain=ABSTAIN_NOTHING),
             pred(4, events=0), pred(5, 2, 1.0)]
    segs = [Seg(1_000, 1_200, "a"), Seg(1_200, 1_300, "unknown"), Seg(1_300, 1_400, "idle")]
    tl = Timeline.from_predictions(preds, CLASSES, t0_us=1_000, duration_us=600, segments=segs)
    img = tl.image(6)
    assert img.shape == (2, 6, 3)
    for col, p in enumerate(preds):
        np.testing.assert_array_equal(img[1, col], answer_rgb(p))
    np.testing.assert_array_equal(img[1, 2], UNKNOWN_RGB)
    np.testing.assert_array_equal(img[1, 3], UNDECIDED_RGB)
    np.testing.assert_array_equal(img[1, 4], NO_DATA_RGB)
    assert not np.array_equal(img[1, 0], img[1, 1])  # another class, another colour
    np.testing.assert_array_equal(img[0, 0], label_rgb("a", CLASSES))
    np.testing.assert_array_equal(img[0, 2], UNKNOWN_RGB)
    np.testing.assert_array_equal(img[0, 3], UNDECIDED_RGB)
    np.testing.assert_array_equal(img[0, 5], NO_DATA_RGB)  # no label there
    assert tl.time_at(3, 6) == 300 and tl.column_of(300, 6) == 3


def test_the_timeline_says_what_classify_says(tmp_path):
    from r2etl_core.stream.classify import ClassifyRequest, classify_input

    out = tmp_path / "demo.jsonl"
    classify_input(ClassifyRequest(str(DEMO), out=out))
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    tl = compute_timeline(str(DEMO))
    assert len(tl.answers) == len(lines) == 683 and len(tl.segments) == 21
    expected = [("" if not d["events"] else d["label"] or ("?" if d["abstain"] == "unknown" else "\u2014"))
                for d in lines]
    assert list(tl.answers) == expected
    assert "?" in tl.answers  # the demo's cars
    png = plot_timeline(tl, tmp_path / "demo.png", "demo")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cancel_stops_it():
    cancel = threading.Event()
    cancel.set()
    assert compute_timeline(str(DEMO), cancel=cancel) is None


def test_the_widget_draws_the_timeline_and_jumps_on_click(qtbot):
    from PySide6.QtCore import QPointF, Qt

    from app.views.timeline import TimelineView

    preds = [pred(i, i % 3, 0.8) for i in range(40)]
    tl = Timeline.from_predictions(preds, CLASSES, t0_us=1_000, duration_us=4_000)
    view = TimelineView()
    qtbot.addWidget(view)
    view.resize(400, 40)
    view.show()
    view.set_timeline(tl)
    cols = view.columns()
    assert cols.shape[0] == 1
    np.testing.assert_array_equal(cols, tl.image(cols.shape[1]))
    vb = view.plot.getPlotItem().vb
    point = vb.mapViewToScene(QPointF(0.002, 0.5))  # 2 ms into the recording
    with qtbot.waitSignal(view.seekRequested, timeout=5_000) as got:
        from pyqtgraph.GraphicsScene.mouseEvents import MouseClickEvent

        class Press:
            def scenePos(self):
                return point

            def screenPos(self):
                return point

            def button(self):
                return Qt.MouseButton.LeftButton

            def buttons(self):
                return Qt.MouseButton.LeftButton

            def modifiers(self):
                return Qt.KeyboardModifier.NoModifier

        view.plot.scene().sigMouseClicked.emit(MouseClickEvent(Press()))
    assert got.args[0] == pytest.approx(2_000, abs=100)


def test_classify_plot_writes_the_picture_and_never_over_another_file(tmp_path, capsys):
    from r2etl_core.cli.main import main

    png = tmp_path / "timeline.png"
    assert main(["classify", str(PROJECT_RECORDINGS / "nmnist-demo-gapped.aedat4"), "--plot", str(png), "--json"]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    capsys.readouterr()
    assert main(["classify", str(DEMO), "--plot", str(notes)]) != 0
    assert notes.read_text() == "my notes" and "notes.txt" in capsys.readouterr().err
