"""The viewer on network peers that misbehave: one that accepts and sends nothing (the window
keeps running, says so, and can be pointed elsewhere), and peers SIGKILLed or SIGSTOPped
mid-stream (the status bar says which). Peers are separate processes on 127.0.0.1."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import signal  # noqa: E402

import pytest  # noqa: E402

pytest.importorskip("pytestqt")

from app_fixtures import tiny_model, wait_for_predictions  # noqa: E402,F401
from test_network_stall import SilentServer, peer, wait_for_line  # noqa: E402

from app.defaults import DEMO_RECORDING  # noqa: E402
from app.session import Session  # noqa: E402
from app.window import MainWindow  # noqa: E402
from r2etl_core.io.modelfile import load_model  # noqa: E402
from r2etl_core.stream.pipeline import LoadedModel  # noqa: E402
from r2etl_core.stream.sources import open_source  # noqa: E402

TIMEOUT = 30_000
STALL_S = 1.5


def viewer(qtbot, model_path, monkeypatch, port: int) -> MainWindow:
    """A viewer whose network inputs give up after STALL_S; Connect... asks for ``port``."""
    session = Session(opener=lambda spec, speed, loop: open_source(spec, speed, loop, stall_s=STALL_S))
    window = MainWindow(session)
    qtbot.addWidget(window)
    session.install_model(LoadedModel(model_path, *load_model(model_path)))
    window.show()
    monkeypatch.setattr("app.dialogs.ask_host_port", lambda *a, **k: f"127.0.0.1:{port}")
    return window


def test_silent_peer_the_window_runs_on_says_so_and_opens_another(qtbot, tiny_model, monkeypatch):  # noqa: F811
    server = SilentServer()
    window = viewer(qtbot, tiny_model, monkeypatch, server.port)
    try:
        window.open_network()
        ticks = window.ticks
        qtbot.waitUntil(lambda: window.errors.last is not None, timeout=TIMEOUT)
        expected = f"127.0.0.1:{server.port}: connected, no data for {STALL_S:g} s"
        assert expected in window.errors.last.text() and expected in window.statusBar().currentMessage()
        assert window.ticks > ticks + 10  # the display timer never stopped while it waited
        window.session.open_input_async(str(DEMO_RECORDING), DEMO_RECORDING.name)
        wait_for_predictions(qtbot, window, 3, TIMEOUT)
    finally:
        window.close()
        server.close()


@pytest.mark.parametrize("how,expected", [
    (signal.SIGKILL, "connection to 127.0.0.1:{port} lost after"),
    (signal.SIGSTOP, "connected to 127.0.0.1:{port}, no data for 1.5 s"),
], ids=["killed", "stopped"])
def test_peer_gone_mid_stream_shows_in_the_status_bar(qtbot, tiny_model, monkeypatch, free_port, how, expected):  # noqa: F811
    with peer("stream", free_port) as proc:
        window = viewer(qtbot, tiny_model, monkeypatch, free_port)
        try:
            window.open_network()
            wait_for_line(proc, "streaming", 60)
            wait_for_predictions(qtbot, window, 3, TIMEOUT)
            os.kill(proc.pid, how)
            text = expected.format(port=free_port)
            qtbot.waitUntil(lambda: text in window.statusBar().currentMessage(), timeout=TIMEOUT)
            assert window.statusBar().currentMessage().startswith(f"error: {text}")
            assert window.errors.last is None  # the status bar, not a dialog over the window
        finally:
            window.close()


def test_a_damaged_stream_is_shown_and_the_window_stays(qtbot, tiny_model, monkeypatch, free_port):  # noqa: F811
    """A valid header, a good packet, then random bytes: dv-processing aborted the viewer on
    these; now the stream ends with the peer and the byte in the status bar, the window open."""
    with peer("damaged", free_port, "3"):
        window = viewer(qtbot, tiny_model, monkeypatch, free_port)
        try:
            window.open_network()
            text = f"127.0.0.1:{free_port}: damaged stream from byte "
            qtbot.waitUntil(lambda: text in window.statusBar().currentMessage(), timeout=TIMEOUT)
            assert window.isVisible()
        finally:
            window.close()


def test_viewer_command_line_stall_s_reaches_the_network_input(tiny_model, capsys):  # noqa: F811
    from app.main import build_parser, input_spec
    from app.startup import build_viewer

    server = SilentServer()
    args = build_parser().parse_args(["--connect", f"127.0.0.1:{server.port}", "--stall-s", "1.2",
                                      "--model", str(tiny_model)])
    try:
        assert build_viewer(args, input_spec(args)) == 2  # a command-line input that fails: one line, exit 2
    finally:
        server.close()
    err = capsys.readouterr().err
    assert f"127.0.0.1:{server.port}: connected, no data for 1.2 s" in err and err.count("\n") == 1
