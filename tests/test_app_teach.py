"""Teach, end to end in the viewer: record and label with the keys -> Train (a separate
process, a few steps) -> the new model swapped in while the stream plays -> back to the
previous model. The stream never stops, and the GUI keeps drawing predictions while training
runs."""

from __future__ import annotations

import functools
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app_fixtures import newest_index, start_viewer, tiny_model, wait_for_predictions  # noqa: E402,F401

from scripts.synthetic_sets import write_labelled_recordings  # noqa: E402

CLASSES = ("left", "middle", "right")
TRAIN_TIMEOUT_MS = 240_000  # a fresh interpreter importing torch on a busy 2-core machine, then 4 steps


def test_label_teach_swap_and_back_while_the_stream_plays(qtbot, tiny_model, tmp_path, monkeypatch):  # noqa: F811
    """Record a (fake) camera, label two things with the keys, Train, Use it, Back."""
    import app.teach as teach
    from PySide6.QtCore import Qt
    from test_app_labelling import live_opener, press

    monkeypatch.setattr(teach, "TeachRun", functools.partial(teach.TeachRun, extra=("--steps", "4")))
    monkeypatch.setenv("R2ETL_RUNS", str(tmp_path / "runs"))
    window, session, _ = start_viewer(qtbot, tiny_model, live_opener, spec="camera:TEST")
    wait_for_predictions(qtbot, window, 3)
    engine0 = session.engine
    window.open_teach()
    panel = window.teach_panel
    assert panel.runs_dir == tmp_path / "runs"
    assert not panel.train_button.isEnabled()  # nothing labelled yet: the panel says what to do
    assert "No labelled recordings" in panel.note.text()

    window.label_bar.set_custom_classes(("left", "right"))
    session.start_recording(tmp_path / "take.aedat4")
    labeller = window.labeller
    for key in (Qt.Key.Key_1, Qt.Key.Key_2):  # show each thing for 0.7 s of stream time
        wait_for_predictions(qtbot, window, 2)
        press(qtbot, window, key)
        start = labeller.now_us
        qtbot.waitUntil(lambda: labeller.now_us - start >= 700_000, timeout=30_000)
    press(qtbot, window, Qt.Key.Key_Escape)
    session.stop_recording()
    panel.refresh()
    assert [panel.table.item(r, 0).text() for r in range(panel.table.rowCount())] == ["left", "right"]
    assert panel.train_button.isEnabled() and panel.recordings.count() == 1

    seen = {"during": 0}
    panel.train_button.click()
    assert panel.cancel_button.isEnabled() and not panel.train_button.isEnabled()
    start = newest_index(window)

    def trained() -> bool:
        seen["during"] = newest_index(window) - start
        assert session.engine is engine0 and engine0.stats().running  # the stream never stops
        return panel.run.progress.done

    qtbot.waitUntil(trained, timeout=TRAIN_TIMEOUT_MS)
    assert panel.run.progress.failed == "", panel.run.progress.failed
    assert seen["during"] > 10  # predictions kept coming while it trained
    assert panel.trained is not None and panel.trained.exists()
    assert "held-out accuracy" in panel.result.text() and panel.use_button.isEnabled()
    assert panel.runs.count() == 1 and panel.progress.value() == panel.progress.maximum() == 4

    session.start_recording(tmp_path / "take2.aedat4")
    panel.use_button.click()  # swap in, while the camera streams and is being recorded
    qtbot.waitUntil(lambda: session.model_path == panel.trained and session.engine is not None
                    and session.engine.stats().running, timeout=60_000)
    assert session.meta.class_names == ("left", "right")
    assert session.engine is engine0 and session.recording is not None  # neither restarted nor cut
    qtbot.waitUntil(lambda: bool(window.prediction_view.history) and
                    window.prediction_view.history[-1].top_label in ("left", "right"), timeout=30_000)
    assert panel.back_button.isEnabled()

    panel.back_button.click()  # and back
    qtbot.waitUntil(lambda: session.model_path == tiny_model and session.engine.stats().running, timeout=60_000)
    assert session.meta.class_names == tuple(str(i) for i in range(10))
    qtbot.waitUntil(lambda: bool(window.prediction_view.history) and
                    window.prediction_view.history[-1].top_label in tuple("0123456789"), timeout=30_000)
    assert session.engine is engine0 and session.recording is not None
    session.stop_recording()
    assert (tmp_path / "take2.aedat4").stat().st_size > 0
    window.close()


def test_a_recording_can_be_left_out(qtbot, tiny_model, tmp_path, monkeypatch):  # noqa: F811
    from PySide6.QtCore import Qt

    from app.teach import labelled_recordings

    clips = write_labelled_recordings(tmp_path / "clips", per_class=2, class_names=CLASSES, per_recording=3)
    monkeypatch.setenv("R2ETL_RUNS", str(tmp_path / "runs"))
    window, session, _ = start_viewer(qtbot, tiny_model)
    window.open_teach()
    panel = window.teach_panel
    panel.extra_recordings = labelled_recordings(clips)
    panel.refresh()
    assert panel.recordings.count() == 2 and len(panel.chosen_recordings()) == 2
    panel.recordings.item(0).setCheckState(Qt.CheckState.Unchecked)
    assert len(panel.chosen_recordings()) == 1 and panel.recordings.count() == 2
    assert panel.recordings.item(0).checkState() == Qt.CheckState.Unchecked
    window.close()
