"""A live DAVIS camera's own grey-level frames reach the source and the viewer."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from app_fixtures import start_viewer, tiny_model  # noqa: E402,F401
from fake_camera import Descriptor, FakeDavis, FakeDevice  # noqa: E402

from r2etl_core.io.dv import readers as dv_readers  # noqa: E402
from r2etl_core.stream.sources import open_source  # noqa: E402
from scripts.synthetic_events import random_events  # noqa: E402


def packets(n: int = 6):
    return [random_events(200, 346, 260, duration_us=1000, t0_us=i * 1000, seed=i) for i in range(n)]


def test_camera_source_hands_out_the_newest_frames(monkeypatch):
    monkeypatch.setattr(dv_readers, "_discover_devices", lambda: [Descriptor("0042")])
    monkeypatch.setattr(dv_readers, "_open_device", lambda serial: FakeDavis(packets(12)))
    src = open_source("camera:0042")
    assert src.camera_frames() is None  # nothing read yet
    assert sum(len(b) for b in src.batches()) == 12 * 200
    frames = src.camera_frames()
    assert len(frames) == dv_readers.LIVE_FRAMES_KEPT and frames.images.shape[1:] == (260, 346)
    assert list(frames.t_us) == sorted(frames.t_us) and int(frames.t_us[-1]) == packets(12)[11].t_first_us


def test_an_events_only_camera_has_no_frames(monkeypatch):
    monkeypatch.setattr(dv_readers, "_discover_devices", lambda: [Descriptor("0042")])
    monkeypatch.setattr(dv_readers, "_open_device", lambda serial: FakeDevice(packets(), "DVXplorer_FAKE", (640, 480)))
    src = open_source("camera:0042")
    list(src.batches())
    assert src.camera_frames() is None


def test_the_viewer_shows_a_live_davis_frame(qtbot, tiny_model, monkeypatch):  # noqa: F811
    monkeypatch.setattr(dv_readers, "_discover_devices", lambda: [Descriptor("0042")])
    monkeypatch.setattr(dv_readers, "_open_device",
                        lambda serial: FakeDavis(packets(40), frame_value=120, keep_running=True))
    window, session, _ = start_viewer(qtbot, tiny_model, lambda spec, speed, loop: open_source(spec), "camera:0042")
    view = window.event_view
    qtbot.waitUntil(lambda: view.camera_frames is not None and view.camera_index is not None, timeout=20_000)
    assert view.camera_toggle.isVisible() and view.camera_image.isVisible()
    shown = view.camera_image.image
    assert shown.shape == (260, 346) and 120 <= int(np.median(shown)) < 160
