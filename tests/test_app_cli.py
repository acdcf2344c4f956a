"""``r2etl-viewer`` command line: help, no display, bad inputs (exit 2, one line), and a smoke
test of the whole viewer on a real recording."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from app_fixtures import tiny_model  # noqa: E402,F401

from app.main import build_parser, input_spec  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
REAL_RECORDINGS = [REPO / "recordings" / "nmnist-demo.aedat4",
                   REPO / "recordings" / "davis346-lab-frames.aedat4",
                   REPO.parent / "shared" / "data" / "recordings" / "davis346-lab-frames.aedat4"]
TIMEOUT = 30_000


def real_recording() -> Path:
    pytest.importorskip("r2etl_core.stream.sources", reason="r2etl_core.stream.sources not available")
    for path in REAL_RECORDINGS:
        if path.exists():
            return path
    pytest.skip("no real recording (recordings/ or ../shared/data/recordings)")


def run_viewer_process(args: list[str], env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.main", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_help_explains_inputs():
    text = build_parser().format_help()
    for option in ("RECORDING", "--camera", "--connect", "--model", "--speed", "--loop",
                   "--screenshot", "--quit-after", "demo"):
        assert option in text


def test_input_spec_from_options():
    parse = build_parser().parse_args
    assert input_spec(parse([])) is None
    assert input_spec(parse(["a.aedat4"])) == "a.aedat4"
    assert input_spec(parse(["--camera"])) == "camera"
    assert input_spec(parse(["--camera", "DXA00042"])) == "camera:DXA00042"
    assert input_spec(parse(["--connect", "10.0.0.2:7777"])) == "10.0.0.2:7777"
    assert parse(["--speed", "max"]).speed is None and parse(["--speed", "2x"]).speed == 2.0
    for bad in (["--speed", "50"], ["--connect", "nohost"], ["--connect", "host:99999"],
                ["a.aedat4", "--camera"]):
        with pytest.raises(SystemExit):
            parse(bad)


def test_no_display_exits_2_with_one_line():
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = run_viewer_process([], env, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "no display" in lines[0] and "--screenshot" in lines[0] and "offscreen" in lines[0]
    assert "r2etl classify" in lines[0]


def test_bad_model_argument_exits_2_with_one_line(qtbot, tmp_path, capsys):
    from app.startup import build_viewer

    bad = tmp_path / "nope.safetensors"
    bad.write_bytes(b"\0" * 64)
    code = build_viewer(build_parser().parse_args(["--model", str(bad)]), None)
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("r2etl-viewer: error:") and "nope.safetensors" in err[0]


def test_bad_recording_argument_exits_2_with_one_line(qtbot, tmp_path, capsys, tiny_model):  # noqa: F811
    pytest.importorskip("r2etl_core.stream.sources", reason="r2etl_core.stream.sources not available")
    from app.startup import build_viewer

    missing = tmp_path / "missing.aedat4"
    args = build_parser().parse_args([str(missing), "--model", str(tiny_model)])
    assert build_viewer(args, str(missing)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.aedat4" in err[0]


def test_whole_viewer_on_a_real_recording(qtbot, tiny_model):  # noqa: F811
    from app.startup import build_viewer

    recording = real_recording()
    args = build_parser().parse_args([str(recording), "--model", str(tiny_model), "--loop"])
    window = build_viewer(args, str(recording))
    assert not isinstance(window, int)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: len(window.prediction_view.history) >= 3, timeout=TIMEOUT)
    assert max(window.prediction_view.probabilities) > 0
    assert window.prediction_view.top_label.text() != "-"
    assert window.event_view.frames_shown > 0 and len(window.spike_view.history) > 0
    info = window.session.source.info
    assert window.event_view.image.image.shape[:2] == (info.height, info.width)
    if recording.with_name(recording.stem + ".labels.csv").exists():  # the demo has labels
        assert len(window.session.segments) > 0 and window.prediction_view.strip.image.shape[0] == 2
    window.close()
    assert window.session.engine is None


def test_screenshot_option_writes_png_and_exits_0(tmp_path, tiny_model):  # noqa: F811
    recording = real_recording()
    shot = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = run_viewer_process([str(recording), "--model", str(tiny_model), "--loop",
                                 "--screenshot", str(shot), "--quit-after", "2"], env)
    assert result.returncode == 0, result.stderr
    from PySide6.QtGui import QImage

    image = QImage(str(shot))
    assert not image.isNull() and image.width() >= 800 and image.height() >= 500


@pytest.mark.parametrize("option", ["--camera", "--connect"])
def test_unusable_live_input_argument_exits_2(qtbot, capsys, tiny_model, free_port, option):  # noqa: F811
    pytest.importorskip("r2etl_core.stream.sources", reason="r2etl_core.stream.sources not available")
    from app.startup import build_viewer

    argv = [option] + ([f"127.0.0.1:{free_port}"] if option == "--connect" else [])
    args = build_parser().parse_args(argv + ["--model", str(tiny_model)])
    if option == "--camera":
        import r2etl_core.io.dv as dvio

        if dvio.discover_cameras():
            pytest.skip("an event camera is attached")
    assert build_viewer(args, input_spec(args)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("r2etl-viewer: error:")
    assert ("no event camera" in err[0].lower()) if option == "--camera" else ("refused" in err[0])


def test_without_default_model_the_input_waits_for_one(qtbot, tiny_model, monkeypatch, tmp_path):  # noqa: F811
    from app import startup
    from r2etl_core.stream import pipeline

    recording = real_recording()
    monkeypatch.setattr(pipeline, "DEFAULT_MODEL_PATH", tmp_path / "not-trained-yet.safetensors")
    window = startup.build_viewer(build_parser().parse_args([str(recording), "--loop"]), str(recording))
    qtbot.addWidget(window)
    assert "no default model" in window.statusBar().currentMessage()
    assert window.session.engine is None and window.session.spec == str(recording)
    window.session.load_model_async(tiny_model)
    qtbot.waitUntil(lambda: len(window.prediction_view.history) >= 2, timeout=TIMEOUT)
    assert window.session.source.info.name == str(recording)
    window.close()
