"""Viewer controls: change a control, assert the engine / source followed (pytest-qt, offscreen)."""

from __future__ import annotations

import os
import threading

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

pytest.importorskip("pytestqt")

from app_fixtures import other_model, start_viewer, tiny_model, wait_for_predictions  # noqa: E402,F401

from r2etl_core.stream.slicing import SliceByTime  # noqa: E402
from r2etl_core.types import FrameSpec

TIMEOUT = 20_000  # ms: generous, the machine is shared


@pytest.fixture
def viewer(qtbot, tiny_model):  # noqa: F811
    window, session, opener = start_viewer(qtbot, tiny_model)
    wait_for_predictions(qtbot, window, 2, TIMEOUT)
    yield window, session, opener
    window.close()


def test_predictions_reach_all_views(qtbot, viewer):
    window, session, _ = viewer
    wait_for_predictions(qtbot, window, 3, TIMEOUT)
    assert window.prediction_view.probabilities.sum() == pytest.approx(1.0, abs=1e-3)
    assert window.prediction_view.top_label.text() != "-"
    assert window.event_view.frames_shown > 0
    assert len(window.spike_view.history) > 0
    assert window.spike_view.layer_names == session.engine.core.layer_names
    qtbot.waitUntil(lambda: window.stats_view.values["device"].text().startswith(("CPU", "GPU")),
                    timeout=TIMEOUT)


def test_slice_spinbox_sets_engine_slicing(qtbot, viewer):
    window, session, _ = viewer
    assert window.settings.slice_length.value() == pytest.approx(10.0)  # the model's slice_us
    window.settings.slice_length.setValue(25.0)
    qtbot.waitUntil(lambda: session.engine.slicing == SliceByTime(25_000), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: any(p.t_end_us - p.t_start_us == 25_000
                                for p in window.prediction_view.history), timeout=TIMEOUT)


def test_slice_box_allows_the_range_the_cli_allows(qtbot):
    from app.controls import SettingsPanel
    from r2etl_core.cli.main import build_parser
    from r2etl_core.cli.stream import stream_settings
    from r2etl_core.errors import InputError

    panel = SettingsPanel()
    qtbot.addWidget(panel)
    box = panel.slice_length
    lowest, highest = round(box.minimum() * 1000), round(box.maximum() * 1000)
    for slice_us in (lowest, highest):  # both ends pass the CLI's check ...
        args = build_parser("classify").parse_args(["classify", "x", "--slice-us", str(slice_us)])
        assert stream_settings(args).slicing == SliceByTime(slice_us)
    for slice_us in (lowest - 1, highest + 1):  # ... and one step beyond fails it
        args = build_parser("classify").parse_args(["classify", "x", "--slice-us", str(slice_us)])
        with pytest.raises(InputError, match="--slice-us"):
            stream_settings(args)


def test_roi_drag_sets_engine_roi_and_centre_resets_it(qtbot, viewer):
    window, session, _ = viewer
    roi = window.event_view.roi
    assert session.engine.roi == FrameSpec.centred(64, 48, 34)
    roi.setSize((20, 20), finish=False)
    roi.setPos((10, 5), finish=True)  # what the end of a mouse drag emits
    qtbot.waitUntil(lambda: session.engine.roi == FrameSpec(10, 5, 20, 34), timeout=TIMEOUT)
    window.event_view.centre_button.click()
    qtbot.waitUntil(lambda: session.engine.roi == FrameSpec.centred(64, 48, 34), timeout=TIMEOUT)
    # the rectangle follows the engine's ROI back
    qtbot.waitUntil(lambda: (roi.pos().x(), roi.pos().y(), roi.size().x()) == (8, 0, 48),
                    timeout=TIMEOUT)


def test_transport_controls_drive_the_source(qtbot, viewer):
    window, session, opener = viewer
    source = opener.opened[-1]
    transport = window.transport
    transport.play_button.click()
    assert source.paused and transport.play_button.text() == "Play"
    qtbot.wait(300)  # let an in-flight chunk land
    events = session.engine.stats().events_in
    qtbot.wait(400)
    assert session.engine.stats().events_in == events  # nothing flows while paused
    transport.play_button.click()
    assert not source.paused
    qtbot.waitUntil(lambda: session.engine.stats().events_in > events, timeout=TIMEOUT)

    transport.speed.setCurrentIndex(transport.speed.findText("max"))
    assert source.speed is None
    transport.speed.setCurrentIndex(transport.speed.findText("0.5x"))
    assert source.speed == 0.5
    transport.loop.setChecked(False)
    assert source.loop is False

    assert transport.seek.isEnabled() and transport.seek.maximum() > 1000
    transport.seek.setValue(1000)  # keyboard-style change: debounced, then one seek
    qtbot.waitUntil(lambda: source.seeks == [1_000_000], timeout=TIMEOUT)


def test_reset_policy_and_reset_button(qtbot, viewer):
    window, session, _ = viewer
    settings = window.settings
    settings.policy.setCurrentIndex(settings.policy.findData("manual"))
    assert session.engine.reset_policy.kind == "manual"
    # the model picks it up with the next slice cut under the new settings
    qtbot.waitUntil(lambda: session.engine.core.reset_policy.kind == "manual", timeout=TIMEOUT)
    settings.policy.setCurrentIndex(settings.policy.findData("window"))
    assert session.engine.reset_policy.kind == "window"
    assert session.engine.reset_policy.window_slices == 10  # the model's T
    qtbot.waitUntil(lambda: session.engine.core.reset_policy.kind == "window", timeout=TIMEOUT)
    settings.policy.setCurrentIndex(settings.policy.findData("manual"))
    wait_for_predictions(qtbot, window, 3, TIMEOUT)
    marker = window.prediction_view.history[-1].index
    settings.reset_button.click()
    qtbot.waitUntil(lambda: any(p.reset_before and p.index > marker
                                for p in window.prediction_view.history), timeout=TIMEOUT)


def test_bad_model_shows_dialog_and_keeps_previous(qtbot, viewer, tmp_path, monkeypatch, tiny_model):  # noqa: F811
    window, session, _ = viewer
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"this is not a model")
    engine = session.engine
    monkeypatch.setattr("app.dialogs.ask_model", lambda *a, **k: str(bad))
    window.open_model()
    qtbot.waitUntil(lambda: window.errors.last is not None and window.errors.last.isVisible(),
                    timeout=TIMEOUT)
    text = window.errors.last.text()
    assert "broken.safetensors" in text and "tiny.safetensors" in text
    assert "broken.safetensors" in window.statusBar().currentMessage()
    assert session.model_path == tiny_model and session.engine is engine
    wait_for_predictions(qtbot, window, 2, TIMEOUT)  # the old model keeps classifying
    assert len(window.prediction_view.probabilities) == 10


def test_switching_model_rebuilds_views_and_reopens_input(qtbot, viewer, monkeypatch, other_model):  # noqa: F811
    window, session, opener = viewer
    first = opener.opened[-1]
    monkeypatch.setattr("app.dialogs.ask_model", lambda *a, **k: str(other_model))
    window.open_model()
    qtbot.waitUntil(lambda: session.model_path == other_model and len(opener.opened) == 2,
                    timeout=TIMEOUT)
    assert first.closed
    assert window.prediction_view.class_names == ("a", "b", "c", "d")
    assert window.settings.slice_length.value() == pytest.approx(20.0)
    assert session.engine.slicing == SliceByTime(20_000)
    qtbot.waitUntil(lambda: len(window.prediction_view.history) > 0
                    and len(window.prediction_view.history[-1].probabilities) == 4, timeout=TIMEOUT)


def test_end_of_file_is_announced_and_seek_replays(qtbot, tiny_model):  # noqa: F811
    window, session, opener = start_viewer(qtbot, tiny_model)
    session.set_loop(False)
    session.set_speed(None)  # unpaced: reaches the end quickly
    qtbot.waitUntil(lambda: "end of input" in window.statusBar().currentMessage(), timeout=TIMEOUT)
    assert not session.engine.stats().running
    window.transport.seek.setValue(500)
    qtbot.waitUntil(lambda: len(opener.opened) == 2, timeout=TIMEOUT)
    assert opener.opened[-1].seeks == [500_000]
    wait_for_predictions(qtbot, window, 2, TIMEOUT)
    window.close()


def test_new_sensor_starts_from_centred_roi(qtbot, tiny_model):  # noqa: F811
    from app_fixtures import MemoryOpener, PacedSource, demo_events

    class TwoSensors(MemoryOpener):
        def __call__(self, spec, speed, loop):
            if spec != "small":
                return super().__call__(spec, speed, loop)
            source = PacedSource(demo_events(34, 34), spec, speed, loop)
            self.opened.append(source)
            return source

    window, session, opener = start_viewer(qtbot, tiny_model, TwoSensors())
    window.event_view.roi.setSize((20, 20), finish=False)
    window.event_view.roi.setPos((30, 20), finish=True)
    qtbot.waitUntil(lambda: session.engine.roi == FrameSpec(30, 20, 20, 34), timeout=TIMEOUT)
    session.open_input_async("small", "small")
    qtbot.waitUntil(lambda: session.spec == "small", timeout=TIMEOUT)
    assert session.engine.roi == FrameSpec.centred(34, 34, 34)
    qtbot.waitUntil(lambda: window.event_view.image.image.shape[:2] == (34, 34), timeout=TIMEOUT)
    window.close()


def mouse_drag(qtbot, event_view, start_xy, end_xy, steps: int = 20) -> None:
    """Press, move and release the left button on the event view, in sensor pixels."""
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    canvas, viewport = event_view.canvas, event_view.canvas.viewport()

    def at(xy):
        return QPointF(canvas.mapFromScene(event_view.view.mapViewToScene(QPointF(*xy))))

    def send(kind, pos, button, buttons):
        QApplication.sendEvent(viewport, QMouseEvent(kind, pos, QPointF(viewport.mapToGlobal(pos)),
                                                     button, buttons, Qt.KeyboardModifier.NoModifier))

    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    a, b = at(start_xy), at(end_xy)
    send(QEvent.Type.MouseButtonPress, a, left, left)
    for i in range(1, steps + 1):
        send(QEvent.Type.MouseMove, a + (b - a) * (i / steps), none, left)
        qtbot.wait(10)
    send(QEvent.Type.MouseButtonRelease, b, left, none)


def test_mouse_drag_of_roi_moves_what_the_model_sees(qtbot, viewer):
    window, session, _ = viewer
    qtbot.waitExposed(window)
    roi = window.event_view.roi
    assert (roi.pos().x(), roi.pos().y(), roi.size().x()) == (8, 0, 48)  # synced at start
    mouse_drag(qtbot, window.event_view, (32, 24), (20, 24))  # grab the middle, 12 px left
    qtbot.waitUntil(lambda: session.engine.roi.roi_x < 8, timeout=TIMEOUT)
    assert session.engine.roi == window.event_view.current_roi().clamped(64, 48)
    assert session.engine.roi.roi_size == 48  # moved, not resized


def test_slow_open_and_model_load_do_not_block_the_display(qtbot, tiny_model, monkeypatch):  # noqa: F811
    import threading

    from app_fixtures import MemoryOpener

    gate = threading.Event()

    class SlowOpener(MemoryOpener):
        def __call__(self, spec, speed, loop):
            if spec == "slow-camera":
                gate.wait(30)  # like a camera that takes its time to start
            return super().__call__(spec, speed, loop)

    window, session, opener = start_viewer(qtbot, tiny_model, SlowOpener())
    session.open_input_async("slow-camera", "slow camera")
    import r2etl_core.stream.session as session_module

    real_load = session_module.load_model_file
    monkeypatch.setattr(session_module, "load_model_file", lambda path: (gate.wait(30), real_load(path))[1])
    session.load_model_async(tiny_model)
    ticks = window.ticks
    qtbot.waitUntil(lambda: window.ticks > ticks + 15, timeout=TIMEOUT)  # timer kept running
    wait_for_predictions(qtbot, window, 2, TIMEOUT)  # and the old input kept playing
    assert session.spec == "demo" and session.tasks.pending == 2
    gate.set()
    qtbot.waitUntil(lambda: session.tasks.pending == 0, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: session.spec == "slow-camera" and session.source is not None,
                    timeout=TIMEOUT)
    wait_for_predictions(qtbot, window, 2, TIMEOUT)
    window.close()


def test_noise_filter_checkbox_filters_what_the_model_sees(qtbot, tiny_model):  # noqa: F811
    from app_fixtures import MemoryOpener

    from scripts.synthetic_events import random_events

    # isolated events only (~7 per pixel per second): the background-activity filter drops most
    noise = random_events(40_000, 64, 48, duration_us=2_000_000, seed=5)
    window, session, _ = start_viewer(qtbot, tiny_model, opener=MemoryOpener(noise))
    seen: list[tuple[bool, int]] = []

    class Collect:
        def on_prediction(self, prediction, spikes):
            seen.append((session.denoise, prediction.event_count))

        def close(self):
            pass

    session.engine.add_sink(Collect())
    qtbot.waitUntil(lambda: sum(1 for on, _ in seen if not on) >= 5, timeout=TIMEOUT)
    window.settings.denoise.setChecked(True)
    assert session.denoise and session.engine.settings.denoise_us is not None
    qtbot.waitUntil(lambda: sum(1 for on, _ in seen if on) >= 16, timeout=TIMEOUT)
    raw = [n for on, n in seen if not on]
    # the newest slices: those queued (up to a queue and a run) before the switch are long gone
    filtered = [n for on, n in seen if on][-8:]
    assert sum(filtered) / len(filtered) < 0.5 * sum(raw) / len(raw)
    window.settings.denoise.setChecked(False)
    assert session.engine.settings.denoise_us is None
    window.close()


def test_the_input_chosen_last_wins_over_a_slower_earlier_one(qtbot, tiny_model):  # noqa: F811
    """A camera that takes its time must not replace a file the user opened after it."""
    from app_fixtures import MemoryOpener

    gate = threading.Event()

    class SlowCamera(MemoryOpener):
        def __call__(self, spec, speed, loop):
            if spec == "slow-camera":
                gate.wait(30)
            return super().__call__(spec, speed, loop)

    window, session, opener = start_viewer(qtbot, tiny_model, SlowCamera())
    session.open_input_async("slow-camera", "camera")
    session.open_input_async("file-b", "file")
    qtbot.waitUntil(lambda: session.spec == "file-b", timeout=TIMEOUT)
    gate.set()
    qtbot.waitUntil(lambda: session.tasks.pending == 0, timeout=TIMEOUT)
    camera = [s for s in opener.opened if s.info.name == "slow-camera"]
    assert session.spec == "file-b" and camera and camera[0].closed
    wait_for_predictions(qtbot, window, 2, TIMEOUT)


def test_a_command_line_speed_that_is_no_preset_is_shown_as_it_is(qtbot):
    from app.controls import TransportBar

    bar = TransportBar()
    qtbot.addWidget(bar)
    bar.show_playback(4.0, False)
    assert bar.speed.currentText() == "4x" and bar.speed.currentData() == 4.0


def test_settings_labels_quote_the_defaults_in_code(qtbot, monkeypatch):
    import app.controls as controls
    from r2etl_core.types import ResetPolicy

    monkeypatch.setattr(controls, "DENOISE_US", 5000)
    panel = controls.SettingsPanel()
    qtbot.addWidget(panel)
    assert panel.denoise.text() == "filter noise (5 ms)" and "the 5 ms before" in panel.denoise.toolTip()
    assert panel.policy.itemText(0) == f"after silence ({ResetPolicy().silence_us // 1000} ms)"
