"""The viewer on a real network event stream (dv-processing writer on 127.0.0.1): connect from
the GUI, classify, record it, and a refused connection as a dialog."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402

pytest.importorskip("pytestqt")

from app_fixtures import demo_events, tiny_model, wait_for_predictions  # noqa: E402,F401

from app.session import Session  # noqa: E402
from app.window import MainWindow  # noqa: E402
from r2etl_core.io.modelfile import load_model  # noqa: E402
from r2etl_core.stream.pipeline import LoadedModel  # noqa: E402
from r2etl_core.types import EventBatch  # noqa: E402

TIMEOUT = 20_000


def empty_viewer(qtbot, model_path) -> MainWindow:
    session = Session()  # the real opener: r2etl_core.stream.sources.open_source
    window = MainWindow(session)
    qtbot.addWidget(window)
    session.install_model(LoadedModel(model_path, *load_model(model_path)))
    window.show()
    return window


def serve(server, stop: threading.Event) -> None:
    """Feed the demo events in real time, shifted so timestamps keep increasing."""
    events = demo_events()
    period = events.t_last_us + 1
    k = 0
    while not stop.is_set():
        for lo in range(0, len(events), 2000):
            if stop.is_set():
                return
            part = events.select(slice(lo, lo + 2000))
            server.write(EventBatch(part.t + k * period, part.x, part.y, part.p, 64, 48))
            time.sleep(0.01)
        k += 1


def test_refused_connection_shows_dialog(qtbot, tiny_model, monkeypatch, free_port):  # noqa: F811
    window = empty_viewer(qtbot, tiny_model)
    monkeypatch.setattr("app.dialogs.ask_host_port", lambda *a, **k: f"127.0.0.1:{free_port}")
    window.open_network()
    qtbot.waitUntil(lambda: window.errors.last is not None, timeout=TIMEOUT)
    assert f"127.0.0.1:{free_port}" in window.errors.last.text()
    assert "refused" in window.errors.last.text()
    assert window.isVisible()


def test_network_stream_is_classified_and_recorded(qtbot, tiny_model, monkeypatch, free_port, tmp_path):  # noqa: F811
    pytest.importorskip("r2etl_core.io.recorder")
    from r2etl_core.io.dv import NetworkEventWriter
    from r2etl_core.stream.sources import open_source

    server = NetworkEventWriter("127.0.0.1", free_port, 64, 48, "test-net")
    stop = threading.Event()
    feeder = threading.Thread(target=serve, args=(server, stop), daemon=True)
    feeder.start()
    window = empty_viewer(qtbot, tiny_model)
    try:
        monkeypatch.setattr("app.dialogs.ask_host_port", lambda *a, **k: f"127.0.0.1:{free_port}")
        window.open_network()
        qtbot.waitUntil(lambda: window.session.source is not None, timeout=TIMEOUT)
        assert window.session.source.info.kind == "network"
        assert not window.transport.seek.isEnabled() and window.transport.time_label.text() == "live"
        wait_for_predictions(qtbot, window, 3, TIMEOUT)

        target = tmp_path / "net.aedat4"
        monkeypatch.setattr("app.dialogs.ask_record_path", lambda *a, **k: str(target))
        window.settings.record_button.click()
        tap = window.session.recording
        qtbot.waitUntil(lambda: tap.events_written > 1000 and tap.predictions_written > 0,
                        timeout=TIMEOUT)
    finally:
        window.close()  # closes the recording, then the network client
        stop.set()
        feeder.join(5)
        server.close(timeout_s=5)
    assert target.exists() and tap.closed
    source = open_source(str(target), speed=None)
    assert sum(len(b) for b in source.batches()) == tap.events_written
    source.close()
