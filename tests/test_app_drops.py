"""The viewer opens the other event formats: the open dialog lists them, and a file dropped on
the window replays (issue 20)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

from app_fixtures import demo_events, tiny_model  # noqa: E402,F401
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDropEvent  # noqa: E402

from app.dialogs import RECORDING_FILTER  # noqa: E402
from app.drops import dropped_input  # noqa: E402
from r2etl_core.io.eventfiles import EVENT_FILE_SUFFIXES  # noqa: E402
from r2etl_core.io.eventfiles.synthetic import encode_es  # noqa: E402


def test_open_dialog_lists_every_readable_format():
    first = RECORDING_FILTER.split(";;")[0]
    for suffix in (*EVENT_FILE_SUFFIXES, ".bin"):
        assert f"*{suffix}" in first.split("(")[1]
    assert "Prophesee RAW (EVT 2.0/3.0) (*.raw)" in RECORDING_FILTER and "HDF5 (*.h5 *.hdf5)" in RECORDING_FILTER


def test_dropped_urls_pick_the_first_input(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "rec.raw").write_bytes(b"x")
    (tmp_path / "rec.labels.csv").write_text("start_us,end_us,label\n")
    urls = [QUrl("https://example.org/rec.raw"), QUrl.fromLocalFile(str(tmp_path / "notes.txt")),
            QUrl.fromLocalFile(str(tmp_path / "rec.labels.csv")), QUrl.fromLocalFile(str(tmp_path / "rec.raw"))]
    assert dropped_input(urls) == str(tmp_path / "rec.raw")
    assert dropped_input([QUrl.fromLocalFile(str(tmp_path))]) == str(tmp_path)  # an N-MNIST folder
    assert dropped_input(urls[:3]) is None


def drop(widget, path: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    widget.dropEvent(event)
    assert event.isAccepted()


def test_an_event_stream_file_dropped_on_the_viewer_replays(qtbot, tmp_path, tiny_model):  # noqa: F811
    from app.main import build_parser
    from app.startup import build_viewer

    events = demo_events(64, 48, seconds=1.0)
    path = tmp_path / "dropped.es"
    path.write_bytes(encode_es(events))
    args = build_parser().parse_args(["--model", str(tiny_model), "--loop"])
    window = build_viewer(args, None)
    assert not isinstance(window, int)
    qtbot.addWidget(window)
    drop(window, path)
    qtbot.waitUntil(lambda: window.session.source is not None and window.session.source.info.name == str(path),
                    timeout=30_000)
    info = window.session.source.info
    assert (info.width, info.height, info.event_count) == (64, 48, len(events))
    # the view shows the dropped file's 64x48 sensor (the demo it replaced is 34x34)
    qtbot.waitUntil(lambda: window.event_view.image.image.shape[:2] == (48, 64), timeout=30_000)
    qtbot.waitUntil(lambda: window.session.source.position_us > 0, timeout=30_000)
    window.close()


def test_labels_of_any_replayed_event_file_can_be_edited(tmp_path):
    from types import SimpleNamespace

    from app.labelling import editable_file

    def session(spec: str, kind: str = "file"):
        return SimpleNamespace(source=SimpleNamespace(info=SimpleNamespace(kind=kind)), playback=object(), spec=spec)

    for name in ("a.aedat4", "a.raw", "a.es", "a.h5", "a.aedat", "a.csv"):
        assert editable_file(session(str(tmp_path / name))) == tmp_path / name
    assert editable_file(session(str(tmp_path / "a.labels.csv"))) is None
    assert editable_file(session("camera:DXA00093", kind="camera")) is None
