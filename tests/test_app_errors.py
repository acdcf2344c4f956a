"""Viewer error paths: every problem reaches the status bar or a dialog and the viewer stays up;
recordings are finished when the window closes or the input is lost."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

pytest.importorskip("pytestqt")

from app_fixtures import FailingSource, MemoryOpener, demo_events, start_viewer, tiny_model, wait_for_predictions  # noqa: E402,F401

from r2etl_core.errors import InputError, NoCameraError  # noqa: E402
from r2etl_core.io.recorder import Recorder  # noqa: E402

TIMEOUT = 20_000


class FakeWriter:
    """Stands in for the .aedat4 writer: counts events and anything written after ``close``."""

    events_dropped = 0

    def __init__(self):
        self.events = self.closes = 0
        self.after_close = 0
        self.lock = threading.Lock()

    @property
    def events_written(self) -> int:
        return self.events

    def write(self, batch) -> None:
        with self.lock:
            self.after_close += self.closes > 0
            self.events += len(batch)

    def close(self) -> None:
        with self.lock:
            self.closes += 1


def fake_factory(store: list, tmp_path: Path):
    """Recorders whose events go to a FakeWriter and predictions under ``tmp_path``."""
    def factory(path: Path, width: int, height: int, camera: str) -> Recorder:
        writer = FakeWriter()
        recorder = Recorder(tmp_path / path.name, width, height, camera, writer=writer)
        store.append((writer, path, width, height, camera, recorder))
        return recorder
    return factory


def test_input_errors_from_the_gui_show_a_dialog_and_keep_playing(qtbot, tiny_model, monkeypatch):  # noqa: F811
    opener = MemoryOpener(fail={
        "camera": NoCameraError("no event camera found"),
        "127.0.0.1:9": InputError("127.0.0.1:9", "connection refused (is the stream server running?)"),
    })
    window, session, _ = start_viewer(qtbot, tiny_model, opener)
    playing = opener.opened[-1]
    monkeypatch.setattr("app.open_inputs.discover_cameras", lambda: [])
    window.open_camera()
    qtbot.waitUntil(lambda: window.errors.last is not None, timeout=TIMEOUT)
    assert "no event camera found" in window.errors.last.text()

    monkeypatch.setattr("app.open_inputs.discover_cameras", lambda: ["DXA000123"])
    monkeypatch.setattr("app.dialogs.ask_camera", lambda parent, cams: "camera")
    window.errors.last = None
    window.open_camera()
    qtbot.waitUntil(lambda: window.errors.last is not None, timeout=TIMEOUT)
    assert "no event camera found" in window.errors.last.text()

    monkeypatch.setattr("app.dialogs.ask_host_port", lambda *a, **k: "127.0.0.1:9")
    window.open_network()
    qtbot.waitUntil(lambda: "connection refused" in window.errors.last.text(), timeout=TIMEOUT)
    assert "connection refused" in window.statusBar().currentMessage()
    assert session.source is playing and not playing.closed
    wait_for_predictions(qtbot, window, 2, TIMEOUT)


def test_engine_error_reaches_status_bar_and_closes_recording(qtbot, tiny_model, tmp_path):  # noqa: F811
    events = demo_events()
    opener = lambda spec, speed, loop: FailingSource(events, spec, after_batches=40)  # noqa: E731
    window, session, _ = start_viewer(qtbot, tiny_model, opener, spec="camera:TEST")
    made: list = []
    session.recorder_factory = fake_factory(made, tmp_path)
    session.start_recording("/tmp/never-written.aedat4")
    assert window.settings.record_button.isChecked()
    qtbot.waitUntil(lambda: "camera disconnected" in window.statusBar().currentMessage()
                    or "camera disconnected" in window.last_error, timeout=TIMEOUT)
    assert "camera disconnected" in window.last_error
    qtbot.waitUntil(lambda: session.recording is None, timeout=TIMEOUT)
    recorder = made[0][0]
    assert recorder.closes == 1 and recorder.after_close == 0 and recorder.events > 0
    assert not window.settings.record_button.isChecked()
    assert window.isVisible()
    qtbot.waitUntil(lambda: window.stats_view.values["state"].text().startswith("error"),
                    timeout=TIMEOUT)


def test_record_button_writes_and_window_close_finishes_file(qtbot, tiny_model, monkeypatch, tmp_path):  # noqa: F811
    window, session, _ = start_viewer(qtbot, tiny_model)
    made: list = []
    session.recorder_factory = fake_factory(made, tmp_path)
    monkeypatch.setattr("app.dialogs.ask_record_path", lambda *a, **k: str(tmp_path / "take1.aedat4"))
    window.settings.record_button.click()
    assert session.recording is not None and window.settings.record_button.text() == "Stop recording"
    recorder, path, width, height, _camera, real = made[0]
    assert (path.name, width, height) == ("take1.aedat4", 64, 48)
    qtbot.waitUntil(lambda: recorder.events > 0 and real.predictions_written > 0, timeout=TIMEOUT)
    window.close()
    assert recorder.closes == 1 and session.recording is None
    qtbot.wait(200)  # a late write from an engine thread would be counted here
    assert recorder.after_close == 0


def test_stop_button_finishes_recording(qtbot, tiny_model, monkeypatch, tmp_path):  # noqa: F811
    window, session, _ = start_viewer(qtbot, tiny_model)
    made: list = []
    session.recorder_factory = fake_factory(made, tmp_path)
    monkeypatch.setattr("app.dialogs.ask_record_path", lambda *a, **k: str(tmp_path / "t.aedat4"))
    window.settings.record_button.click()
    qtbot.waitUntil(lambda: made[0][0].events > 0, timeout=TIMEOUT)
    window.settings.record_button.click()
    assert made[0][0].closes == 1 and session.recording is None
    assert "saved" in window.statusBar().currentMessage()
    assert window.settings.record_button.text() == "Record..."


def test_real_recorder_file_is_complete_after_window_close(qtbot, tiny_model, monkeypatch, tmp_path):  # noqa: F811
    import json

    from r2etl_core.stream.sources import open_source

    window, session, _ = start_viewer(qtbot, tiny_model)
    target = tmp_path / "take.aedat4"
    monkeypatch.setattr("app.dialogs.ask_record_path", lambda *a, **k: str(target))
    window.settings.record_button.click()
    tap = session.recording
    assert tap is not None and tap.path == target
    qtbot.waitUntil(lambda: tap.events_written > 2000 and tap.predictions_written >= 3, timeout=TIMEOUT)
    window.close()
    assert tap.closed and target.exists()
    assert not list(tmp_path.glob("*.part.aedat4"))  # finished, not left half-written
    source = open_source(str(target), speed=None)
    assert (source.info.width, source.info.height) == (64, 48)
    assert sum(len(batch) for batch in source.batches()) == tap.events_written
    source.close()
    lines = tap.predictions_path.read_text().splitlines()
    assert len(lines) == tap.predictions_written
    assert all(len(json.loads(line)["probabilities"]) == 10 for line in lines)


def test_recording_write_failure_stops_recording_not_input(qtbot, tiny_model):  # noqa: F811
    class FullDisk(FakeWriter):
        def write(self, batch) -> None:
            raise OSError("No space left on device")

    window, session, _ = start_viewer(qtbot, tiny_model)
    session.recorder_factory = lambda path, w, h, cam: Recorder(path, w, h, cam, writer=FullDisk())
    session.start_recording("/tmp/full.aedat4")
    qtbot.waitUntil(lambda: session.recording is None, timeout=TIMEOUT)
    assert "No space left" in window.errors.last.text()
    assert session.engine.stats().running and session.engine.stats().error is None
    wait_for_predictions(qtbot, window, 2, TIMEOUT)


def test_input_opened_after_window_closed_is_discarded(qtbot, tiny_model):  # noqa: F811
    from r2etl_core.stream.pipeline import OpenedInput

    window, session, opener = start_viewer(qtbot, tiny_model)
    window.close()
    late = opener("late", 1.0, False)  # e.g. a camera that finished opening after the close
    session.start_input(OpenedInput("late", late))
    assert late.closed and session.engine is None and session.source is None


def test_viewer_start_saves_recordings_a_killed_viewer_left(qtbot, tiny_model, tmp_path):  # noqa: F811
    from r2etl_core.io.dv import AedatWriter
    from r2etl_core.io.dv.writers import part_path_for
    from scripts.synthetic_events import random_events

    from app.session import Session
    from app.startup import recover_leftovers
    from app.window import MainWindow

    part = part_path_for(tmp_path / "demo-take.aedat4")
    writer = AedatWriter(tmp_path / "finished.aedat4", 34, 34)  # a finished file to copy as a leftover
    writer.write(random_events(2_000, 34, 34, duration_us=500_000, seed=3))
    writer.close()
    (tmp_path / "finished.aedat4").rename(part)
    window = MainWindow(Session(), recordings_dir=tmp_path)
    qtbot.addWidget(window)
    recover_leftovers(window)
    qtbot.waitUntil(lambda: "recovered as demo-take.recovered.aedat4" in window.statusBar().currentMessage(),
                    timeout=TIMEOUT)
    assert (tmp_path / "demo-take.recovered.aedat4").exists() and not part.exists()
    window.close()


def test_recording_into_another_folder_recovers_what_was_killed_there(qtbot, tiny_model, tmp_path):  # noqa: F811
    """A .part left in the folder the user records into (not the viewer's recordings folder) is
    recovered when recording there starts; the new recording's own .part is locked, untouched."""
    from r2etl_core.io.dv import AedatWriter
    from r2etl_core.io.dv.writers import part_path_for
    from scripts.synthetic_events import random_events

    from app.session import Session
    from app.startup import follow_recording_folders
    from app.window import MainWindow

    elsewhere = tmp_path / "lab"
    elsewhere.mkdir()
    writer = AedatWriter(elsewhere / "finished.aedat4", 34, 34)
    writer.write(random_events(2_000, 34, 34, duration_us=500_000, seed=3))
    writer.close()
    (elsewhere / "finished.aedat4").rename(part_path_for(elsewhere / "old-take.aedat4"))
    live = AedatWriter(elsewhere / "new-take.aedat4", 34, 34)  # the recording just started
    window = MainWindow(Session(), recordings_dir=tmp_path / "recordings")
    qtbot.addWidget(window)
    follow_recording_folders(window)
    window.session.recordingChanged.emit(str(elsewhere / "new-take.aedat4"))
    qtbot.waitUntil(lambda: "recovered as old-take.recovered.aedat4" in window.statusBar().currentMessage(),
                    timeout=TIMEOUT)
    assert part_path_for(elsewhere / "new-take.aedat4").exists()
    assert not (elsewhere / "new-take.recovered.aedat4").exists()
    live.close()
    window.close()
