"""Labelling in the viewer (label bar): keys mark labels into a recording's sidecar while
recording, edit an open recording's sidecar while replaying, the truth row follows; and a
DAVIS recording's own camera frames under the events."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("pytestqt")

from app_fixtures import FailingSource, MemoryOpener, demo_events, start_viewer, tiny_model, wait_for_predictions  # noqa: E402,F401,I001
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.views.palette import class_rgb  # noqa: E402
from r2etl_core.io.aps_frames import read_camera_frames  # noqa: E402
from r2etl_core.io.label_editing import write_sidecar  # noqa: E402
from r2etl_core.io.labels import LabelSegment, read_labels  # noqa: E402
from r2etl_core.stream.pipeline import open_with_core  # noqa: E402

TIMEOUT = 20_000
RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"


def press(qtbot, window, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """A key pressed anywhere in the window, as the user would (window-wide shortcuts)."""
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=TIMEOUT)
    qtbot.keyClick(window.event_view.canvas, key, modifier)


def newest_end(window) -> int:
    return window.prediction_view.history[-1].t_end_us


def live_opener(spec, speed, loop):
    return FailingSource(demo_events(), spec, after_batches=10**9)  # a camera that never fails


def test_keys_label_a_recording_into_its_sidecar(qtbot, tiny_model, tmp_path):  # noqa: F811
    window, session, _ = start_viewer(qtbot, tiny_model, live_opener, spec="camera:TEST")
    wait_for_predictions(qtbot, window, 2, TIMEOUT)
    bar, labeller = window.label_bar, window.labeller
    assert not bar.buttons[3].isEnabled()  # not recording: the keys go nowhere
    session.start_recording(tmp_path / "take1.aedat4")
    sidecar = tmp_path / "take1.labels.csv"
    wait_for_predictions(qtbot, window, 2, TIMEOUT)
    press(qtbot, window, Qt.Key.Key_3)
    start = labeller.editor.open.start_us
    assert start == labeller.now_us == newest_end(window)  # the end of the slice on screen
    assert bar.buttons[3].isChecked() and "<b>3</b>" in bar.current_label.text()
    assert read_labels(sidecar) == [LabelSegment(start, start + 1, "3")]  # saved at the mark: a kill keeps it
    qtbot.waitUntil(lambda: read_labels(sidecar)[0].end_us > start + 1, timeout=TIMEOUT)  # the timer
    first = read_labels(sidecar)
    assert len(first) == 1 and first[0].label == "3" and first[0].start_us == start < first[0].end_us
    view = window.prediction_view  # a live input: the truth row shows the labels being made
    assert view.score.label_at(view.history[-1]) == "3" and "<b>3</b>" in view.truth_label.text()
    wait_for_predictions(qtbot, window, 2, TIMEOUT)
    press(qtbot, window, Qt.Key.Key_5)
    five = labeller.now_us
    wait_for_predictions(qtbot, window, 2, TIMEOUT)
    press(qtbot, window, Qt.Key.Key_Escape)
    end = labeller.now_us
    assert labeller.editor.segments == (LabelSegment(start, five, "3"), LabelSegment(five, end, "5"))
    press(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo "none": 5 runs on
    assert labeller.editor.open.label == "5"
    wait_for_predictions(qtbot, window, 2, TIMEOUT)
    final_end = labeller.now_us
    session.stop_recording()  # the open label ends where the picture is
    assert final_end > end
    assert read_labels(sidecar) == [LabelSegment(start, five, "3"), LabelSegment(five, final_end, "5")]
    assert sidecar.read_text().startswith("start_us,end_us,label\n")
    assert not bar.buttons[3].isEnabled() and labeller.editor is None
    window.close()


def test_typed_class_names_get_keys_and_buttons(qtbot, tiny_model):  # noqa: F811
    window, session, _ = start_viewer(qtbot, tiny_model)
    bar = window.label_bar
    assert bar.names == tuple(str(i) for i in range(10)) and bar.buttons[7].text() == "7"  # the model's
    bar.set_custom_classes(("cat", "dog", "idle"))
    assert [b.text() for b in bar.buttons] == ["1 \u00b7 cat", "2 \u00b7 dog", "3 \u00b7 idle"]
    with qtbot.waitSignal(bar.labelChosen) as chosen:
        press(qtbot, window, Qt.Key.Key_2)
    assert chosen.args == ["dog"]
    with qtbot.waitSignal(bar.labelChosen) as chosen:
        press(qtbot, window, Qt.Key.Key_Minus)
    assert chosen.args == [None]
    bar.set_custom_classes(())
    assert bar.names[0] == "0"
    window.close()


def recording_with_labels(tmp_path: Path, events) -> tuple[str, list[LabelSegment]]:
    spec = str(tmp_path / "rec.aedat4")
    whole = [LabelSegment(events.t_first_us, events.t_last_us + 1, "1")]
    write_sidecar(tmp_path / "rec.labels.csv", whole)
    return spec, whole


def truth_colour(window) -> tuple:
    return tuple(int(v) for v in window.prediction_view._strip_img[1, -1])


def test_replay_edits_cut_overlaps_truth_row_follows_and_undo(qtbot, tiny_model, tmp_path):  # noqa: F811
    events = demo_events(seconds=20)  # long enough that no loop comes between the marks
    spec, whole = recording_with_labels(tmp_path, events)
    window, session, _ = start_viewer(qtbot, tiny_model, MemoryOpener(events), spec=spec, segments=whole)
    sidecar, bar, labeller = tmp_path / "rec.labels.csv", window.label_bar, window.labeller
    view = window.prediction_view
    original = sidecar.read_text()
    wait_for_predictions(qtbot, window, 3, TIMEOUT)
    assert view.score.label_at(view.history[-1]) == "1" and truth_colour(window) == class_rgb(1)
    press(qtbot, window, Qt.Key.Key_4)
    assert labeller.editor is None and sidecar.read_text() == original  # not armed: untouched
    assert bar.edit_check.isVisible()
    bar.edit_check.setChecked(True)
    press(qtbot, window, Qt.Key.Key_4)
    start = labeller.editor.open.start_us
    wait_for_predictions(qtbot, window, 3, TIMEOUT)
    # the truth row follows the edit while it is being made
    qtbot.waitUntil(lambda: view.history[-1].t_start_us > start, timeout=TIMEOUT)
    assert view.score.label_at(view.history[-1]) == "4" and "<b>4</b>" in view.truth_label.text()
    assert truth_colour(window) == class_rgb(4)
    press(qtbot, window, Qt.Key.Key_Minus)
    end = labeller.now_us
    assert start < end
    expected = [LabelSegment(whole[0].start_us, start, "1"), LabelSegment(start, end, "4"),
                LabelSegment(end, whole[0].end_us, "1")]
    assert read_labels(sidecar) == expected  # written at once, the old segment cut around it
    assert tuple(view.segments) == tuple(expected) and tuple(session.segments) == tuple(expected)
    qtbot.waitUntil(lambda: view.history[-1].t_start_us > end, timeout=TIMEOUT)
    assert view.score.label_at(view.history[-1]) == "1"
    press(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # "4" open again
    press(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # never marked
    assert labeller.editor.open is None and read_labels(sidecar) == whole
    assert tuple(view.segments) == tuple(whole)
    window.close()


def test_a_jump_back_ends_the_open_label(qtbot, tiny_model, tmp_path):  # noqa: F811
    events = demo_events(seconds=20)
    spec, whole = recording_with_labels(tmp_path, events)
    window, session, _ = start_viewer(qtbot, tiny_model, MemoryOpener(events), spec=spec, segments=whole)
    window.label_bar.edit_check.setChecked(True)
    wait_for_predictions(qtbot, window, 5, TIMEOUT)
    press(qtbot, window, Qt.Key.Key_2)
    wait_for_predictions(qtbot, window, 3, TIMEOUT)
    before = window.labeller.now_us
    window.transport.seekRequested.emit(0)
    saved = read_labels(tmp_path / "rec.labels.csv")
    assert [s.label for s in saved] == ["1", "2", "1"] and saved[1].end_us == before
    assert window.labeller.editor.open is None
    wait_for_predictions(qtbot, window, 3, TIMEOUT)
    press(qtbot, window, Qt.Key.Key_6)
    wait_for_predictions(qtbot, window, 3, TIMEOUT)
    window.label_bar.edit_check.setChecked(False)  # done editing: the open label ends and is saved
    saved = read_labels(tmp_path / "rec.labels.csv")
    assert "6" in [s.label for s in saved] and window.labeller.editor is None
    assert list(window.prediction_view.segments) == saved == list(session.segments)
    assert not window.label_bar.buttons[6].isEnabled()
    window.close()


def test_camera_frames_are_shown_for_a_davis_recording(qtbot, tiny_model):  # noqa: F811
    path = RECORDINGS / "davis346-lab-frames.aedat4"
    window, session, _ = start_viewer(qtbot, tiny_model, open_with_core, spec=str(path))
    view = window.event_view
    qtbot.waitUntil(lambda: view.camera_frames is not None, timeout=TIMEOUT)
    truth = read_camera_frames(path)
    assert view.camera_toggle.isVisible() and view.camera_toggle.isEnabled() and view.camera_toggle.isChecked()

    def shows_nearest_frame() -> bool:
        if view.camera_index is None or not window.prediction_view.history:
            return False
        i = truth.nearest(window.prediction_view.history[-1].t_end_us)
        return view.camera_index == i and np.array_equal(view.camera_image.image, truth.images[i])

    qtbot.waitUntil(shows_nearest_frame, timeout=TIMEOUT)
    assert view.camera_image.isVisible() and 40 < view.camera_image.image.mean() < 60
    assert view.image.lut.shape[1] == 4  # events drawn see-through over the frame
    view.camera_toggle.setChecked(False)
    assert not view.camera_image.isVisible() and view.image.lut.shape[1] == 3
    window.close()


@pytest.mark.parametrize("spec", [str(RECORDINGS / "nmnist-demo.aedat4"), "demo"])
def test_no_camera_frames_toggle_without_frames(qtbot, tiny_model, spec):  # noqa: F811
    opener = open_with_core if spec != "demo" else MemoryOpener()
    window, session, _ = start_viewer(qtbot, tiny_model, opener, spec=spec)
    wait_for_predictions(qtbot, window, 2, TIMEOUT)
    qtbot.waitUntil(lambda: window.frame_tasks.pending == 0, timeout=TIMEOUT)
    view = window.event_view
    assert view.camera_frames is None and not view.camera_toggle.isVisible()
    assert not view.camera_image.isVisible()
    window.close()
