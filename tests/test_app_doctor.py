"""Help > Check this machine: the doctor's report in a dialog, computed in the background."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

pytest.importorskip("pytestqt")

from app_fixtures import start_viewer, tiny_model  # noqa: E402,F401

from app.doctor_dialog import CHECKING  # noqa: E402
from r2etl_core import doctor  # noqa: E402


def test_help_menu_shows_the_doctor_report(qtbot, tiny_model, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setattr(doctor, "discover_cameras", lambda: ["DXA00093"])
    window, session, _ = start_viewer(qtbot, tiny_model)
    window.recordings_dir = str(tmp_path)
    help_menu = [a.menu() for a in window.menuBar().actions() if a.text() == "&Help"]
    assert help_menu and window.doctor.action in help_menu[0].actions()

    window.doctor.action.trigger()
    dialog = window.doctor.dialog
    assert dialog.isVisible()  # at once, before the checks finish: the GUI never waits on them
    qtbot.waitUntil(lambda: dialog.text() != CHECKING, timeout=30_000)
    lines = dialog.text().splitlines()
    by_name = {line[6:20].strip(): line for line in lines[:-1]}
    assert "DXA00093" in by_name["camera"] and by_name["camera"].startswith("ok")
    assert "tiny.safetensors" in by_name["model"]  # the viewer's model, not the default
    assert str(tmp_path) in by_name["recordings"] and by_name["recordings"].startswith("ok")
    assert by_name["smoke run"].startswith("ok")
    assert "this window" in by_name["display"] and "offscreen" in by_name["display"]
    assert set(by_name) >= {"torch", "gpu", "spikingjelly", "dv-processing", "qt"}
    assert lines[-1].startswith("ready: 0 failed")
    window.close()
