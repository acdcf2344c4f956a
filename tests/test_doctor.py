"""``r2etl doctor``: each check with fakes (no camera, unwritable folder, corrupt model, Qt
probe outcomes), the real Qt probe once, and the CLI's exit codes."""

from __future__ import annotations

import hashlib
import json

import pytest

from r2etl_core import doctor
from r2etl_core.cli.main import main
from r2etl_core.errors import NoCameraError
from r2etl_core.io.modelfile import DEFAULT_MODEL_PATH


def statuses(checks) -> dict[str, str]:
    return {c.name: c.status for c in checks}


def test_no_camera_is_a_warning_with_a_fix():
    check = doctor.check_cameras(lambda: [])
    assert check.status == doctor.WARN and "no event camera" in check.detail and check.fix


def test_cameras_found_are_named():
    check = doctor.check_cameras(lambda: ["DXA00093", "00000499"])
    assert check.status == doctor.OK and "DXA00093" in check.detail and "00000499" in check.detail


def test_failing_discovery_is_a_warning_not_a_crash():
    def broken():
        raise NoCameraError("camera discovery failed: libusb busy")

    check = doctor.check_cameras(broken)
    assert check.status == doctor.WARN and "libusb busy" in check.detail


def test_writable_folder_is_ok_and_leaves_nothing(tmp_path):
    assert doctor.check_recordings_folder(tmp_path).status == doctor.OK
    assert list(tmp_path.iterdir()) == []


def test_unwritable_or_missing_folder_fails(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    # a file where the folder should be: nothing can be written "in" it, even as root
    not_a_folder = doctor.check_recordings_folder(blocker)
    assert not_a_folder.status == doctor.FAIL and "cannot write" in not_a_folder.detail and not_a_folder.fix
    missing = doctor.check_recordings_folder(tmp_path / "nope")
    assert missing.status == doctor.FAIL and "does not exist" in missing.detail


def test_unwritable_folder_fails_when_the_write_is_refused(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(doctor.tempfile, "NamedTemporaryFile", refuse)
    check = doctor.check_recordings_folder(tmp_path)
    assert check.status == doctor.FAIL and "Permission denied" in check.detail


def test_default_model_checksum_and_smoke_run():
    check, loaded = doctor.check_model(None)
    digest = hashlib.sha256(DEFAULT_MODEL_PATH.read_bytes()).hexdigest()
    assert check.status == doctor.OK and digest[:16] in check.detail
    smoke = doctor.check_smoke(loaded, "cpu")
    assert smoke.status == doctor.OK and "cpu" in smoke.detail


def test_corrupt_model_fails_and_skips_the_smoke_run(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(DEFAULT_MODEL_PATH.read_bytes()[:5000])  # a half-copied file
    check, loaded = doctor.check_model(bad)
    assert check.status == doctor.FAIL and "bad.safetensors" in check.detail and loaded is None
    assert doctor.check_smoke(None).status == doctor.FAIL


def test_no_gpu_is_a_warning(monkeypatch):
    import r2etl_core.parse

    monkeypatch.setattr(r2etl_core.parse, "cuda_available", lambda: False)
    checks = statuses(doctor.check_torch())
    assert checks == {"torch": doctor.OK, "gpu": doctor.WARN}


@pytest.mark.parametrize("code, out, err, env, expected", [
    (0, "QT 6.11.3 6.11.3\nWINDOW xcb\n", "", {"DISPLAY": ":0"}, ("ok", "ok")),
    (0, "QT 6.11.3 6.11.3\nWINDOW offscreen\n", "", {}, ("ok", "warn")),
    (-6, "QT 6.11.3 6.11.3\n", "qt.qpa.xcb: could not connect to display\n", {}, ("ok", "warn")),
    (-6, "QT 6.11.3 6.11.3\n", "qt.qpa.plugin: Could not load the Qt platform plugin \"xcb\"\n",
     {"DISPLAY": ":0"}, ("ok", "fail")),
    (None, "QT 6.11.3 6.11.3\n", "", {"DISPLAY": ":0"}, ("ok", "fail")),
    (3, "NOQT ModuleNotFoundError No module named 'PySide6'\n", "", {}, ("fail", "fail")),
])
def test_qt_probe_outcomes(code, out, err, env, expected):
    checks = doctor.qt_checks(code, out, err, env)
    assert tuple(c.status for c in checks) == expected
    assert [c.name for c in checks] == ["qt", "display"]
    assert all(c.fix for c in checks if c.status != doctor.OK)


def test_real_qt_probe_in_a_child_process(monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    checks = doctor.finish_qt_probe(doctor.start_qt_probe())
    assert statuses(checks) == {"qt": doctor.OK, "display": doctor.WARN}  # offscreen shows nothing
    assert "offscreen" in checks[1].detail


@pytest.fixture
def fake_hardware(monkeypatch):
    """No camera and a Qt probe that says a window opened: the rest of the checks are real."""
    monkeypatch.setattr(doctor, "discover_cameras", lambda: [])
    monkeypatch.setattr(doctor, "start_qt_probe", lambda: "fake probe")
    monkeypatch.setattr(doctor, "finish_qt_probe", lambda probe: doctor.qt_checks(
        0, "QT 6 6\nWINDOW xcb\n", "", {"DISPLAY": ":0"}))


def run_doctor(capsys, *argv):
    code = main(["doctor", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_exit_0_when_only_warnings(capsys, tmp_path, fake_hardware):
    code, out, _ = run_doctor(capsys, "--recordings", tmp_path, "--device", "cpu")
    assert code == 0
    lines = out.strip().splitlines()
    assert any(line.startswith("warn  camera") for line in lines)
    assert any(line.startswith("ok    model") for line in lines)
    assert lines[-1].startswith("ready: 0 failed")


def test_cli_exit_1_on_a_corrupt_model(capsys, tmp_path, fake_hardware):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a model at all")
    code, out, _ = run_doctor(capsys, "--recordings", tmp_path, "--model", bad, "--json")
    assert code == 1
    result = json.loads(out.strip().splitlines()[-1])
    by_name = {c["name"]: c for c in result["checks"]}
    assert by_name["model"]["status"] == "fail" and by_name["smoke run"]["status"] == "fail"
    assert by_name["camera"]["status"] == "warn" and result["exit"] == 1


def test_cli_exit_1_on_a_missing_recordings_folder(capsys, tmp_path, fake_hardware):
    code, out, _ = run_doctor(capsys, "--recordings", tmp_path / "gone")
    assert code == 1 and "fail  recordings" in out and out.strip().splitlines()[-1].startswith("NOT ready")


def test_report_lines_have_status_name_and_fix():
    checks = [doctor.Check("camera", doctor.WARN, "none", "plug one in"), doctor.Check("qt", doctor.OK, "6")]
    text = doctor.report_text(checks)
    assert text.splitlines() == ["warn  camera        none  -> plug one in", "ok    qt            6",
                                 "ready: 0 failed, 1 warnings"]
    assert doctor.exit_code(checks) == 0
    assert doctor.exit_code(checks + [doctor.Check("model", doctor.FAIL, "bad")]) == 1

