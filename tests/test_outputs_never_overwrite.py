"""Nothing the user gave r2etl to read is lost to what it writes: an output never replaces an
input of the same run (recording, labels sidecar, model), replaces another existing file only
when it looks like a previous output of the same kind (or with --force), and never renames a
temporary file over a device node (the null device is written in place, others are refused).
A folder on the way that cannot be searched is the usual one line, not a PermissionError."""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import stat
from pathlib import Path

import pytest

from r2etl_core.cli.main import main
from r2etl_core.errors import InputError
from r2etl_core.io.files import AtomicFile, atomic_write, check_input_file, check_output_path
from r2etl_core.io.modelfile import DEFAULT_MODEL_PATH


@pytest.fixture
def rec(tmp_path) -> Path:
    """A tiny recording with a labels sidecar."""
    from r2etl_core.io.dv import AedatWriter
    from scripts.synthetic_events import random_events

    path = tmp_path / "rec.aedat4"
    writer = AedatWriter(path, 34, 34)
    writer.write(random_events(400, duration_us=200_000, t0_us=1_000_000, seed=3))
    writer.close()
    (tmp_path / "rec.labels.csv").write_text("start_us,end_us,label\n1000000,1200000,3\n")
    return path


def _one_line_error(capsys, code: int, *named: str) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert all(n in lines[0] for n in named), lines[0]
    return lines[0]


@pytest.mark.parametrize("target", ["rec.aedat4", "rec.labels.csv", "model"])
def test_classify_out_never_overwrites_an_input_even_with_force(rec, tmp_path, capsys, target):
    model = tmp_path / "model.safetensors"
    model.write_bytes(DEFAULT_MODEL_PATH.read_bytes())
    path = model if target == "model" else tmp_path / target
    before = path.read_bytes()
    for force in ([], ["--force"]):
        code = main(["classify", str(rec), "--model", str(model), "--out", str(path), *force])
        line = _one_line_error(capsys, code, str(path), "is an input of this run")
        assert line.startswith("r2etl classify: error: ")
        assert path.read_bytes() == before


def test_classify_out_replaces_another_file_only_with_force(rec, tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("three weeks of lab notes\n")
    _one_line_error(capsys, main(["classify", str(rec), "--out", str(notes)]), str(notes), "--force")
    assert notes.read_text() == "three weeks of lab notes\n"
    assert main(["classify", str(rec), "--out", str(notes), "--force"]) == 0
    assert json.loads(notes.read_text().splitlines()[0])["t_end_us"] > 0


def test_classify_out_overwrites_its_own_previous_log(rec, tmp_path):
    log = tmp_path / "preds.jsonl"
    log.write_text('{"t_end_us": 1}\n')
    assert main(["classify", str(rec), "--out", str(log)]) == 0
    assert len(log.read_text().splitlines()) > 1


def test_classify_out_to_the_null_device_writes_in_place(rec):
    before = os.stat(os.devnull)
    assert main(["classify", str(rec), "--out", os.devnull]) == 0
    after = os.stat(os.devnull)
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_classify_out_to_another_device_is_refused(rec, capsys):
    _one_line_error(capsys, main(["classify", str(rec), "--out", "/dev/full"]), "/dev/full", "not a regular file")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_atomic_writes_never_rename_over_a_pipe_or_device(tmp_path):
    fifo = tmp_path / "out.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        AtomicFile(fifo)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    with atomic_write(os.devnull) as tmp:
        assert str(tmp) == os.devnull
        Path(tmp).write_text("gone")
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def _viewer_args(*argv: str) -> argparse.Namespace:
    from app.main import build_parser

    return build_parser().parse_args(list(argv))


@pytest.mark.parametrize("flag,target", [("--stats-json", "rec.aedat4"), ("--stats-json", "rec.labels.csv"),
                                         ("--screenshot", "rec.aedat4")])
def test_viewer_outputs_never_name_the_recording_it_plays(rec, tmp_path, flag, target):
    from app.main import screenshot_problem

    path = tmp_path / target
    problem = screenshot_problem(_viewer_args(str(rec), flag, str(path), "--force"))
    assert problem and problem.startswith(f"r2etl-viewer: error: {flag} {path}: is an input of this run")


def test_viewer_stats_json_replaces_only_json_without_force(rec, tmp_path):
    from app.main import screenshot_problem

    notes, old = tmp_path / "notes.txt", tmp_path / "old-stats.json"
    notes.write_text("notes\n")
    old.write_text('{"dropped": 0}')
    assert "use --force" in screenshot_problem(_viewer_args(str(rec), "--stats-json", str(notes)))
    assert screenshot_problem(_viewer_args(str(rec), "--stats-json", str(notes), "--force")) is None
    assert screenshot_problem(_viewer_args(str(rec), "--stats-json", str(old))) is None


def unsearchable_folder(tmp_path, monkeypatch):
    """``tmp_path/locked``, where ``stat`` of anything inside raises PermissionError."""
    locked = tmp_path / "locked"
    locked.mkdir()
    real_stat = pathlib.Path.stat

    def stat_(self, *a, **k):
        if str(self).startswith(str(locked) + os.sep):
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, *a, **k)

    monkeypatch.setattr(pathlib.Path, "stat", stat_)
    return locked


def test_unsearchable_folder_is_one_line_for_inputs_and_outputs(tmp_path, monkeypatch):
    """Root ignores permissions, so the folder without x permission is simulated where
    pathlib asks the OS: ``stat`` of anything under it raises PermissionError."""
    locked = unsearchable_folder(tmp_path, monkeypatch)
    with pytest.raises(InputError, match="permission denied|Permission denied"):
        check_input_file(locked / "x.aedat4", "recording")
    with pytest.raises(InputError, match="not searchable"):
        check_output_path(locked / "out.jsonl")
    with pytest.raises(InputError, match="not searchable"):
        check_output_path(locked / "sub" / "out.jsonl")


@pytest.mark.parametrize("argv", [
    ["info", "{locked}/x.aedat4"],
    ["classify", "{locked}/x.aedat4"],
    ["classify", "{rec}", "--out", "{locked}/out.jsonl"],
    ["train", "--config", "{locked}/x.toml"],
    ["eval", "--data", "nmnist:{locked}/data"],
    ["eval", "--data", "nmnist:{tmp}", "--confusion-png", "{locked}/c.png"],
], ids=["info", "classify", "classify-out", "train-config", "eval-data", "eval-confusion-png"])
def test_a_path_in_an_unsearchable_folder_is_one_line_for_every_command(rec, tmp_path, monkeypatch, capsys, argv):
    locked = unsearchable_folder(tmp_path, monkeypatch)
    code = main([a.format(locked=locked, rec=rec, tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert str(locked) in lines[0] and "ermission denied" in lines[0], lines[0]


def test_classify_warns_when_the_labels_miss_the_recording(rec, tmp_path, capsys, monkeypatch):
    """Labels written from 0 on a recording that starts at 1 s: said as training says it
    (training refuses the file), instead of a silent segment accuracy of 0 over 0 segments."""
    import warnings

    from r2etl_core.cli import main as cli

    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)
    (tmp_path / "rec.labels.csv").write_text("start_us,end_us,label\n0,200000,3\n")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert cli.main(["classify", str(rec)]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith(f"r2etl classify: warning: {tmp_path / 'rec.labels.csv'}: ")
    assert "lies outside the recording's events" in err[0] and "not offsets from the start" in err[0]


def test_viewer_stats_json_on_a_full_disk_is_one_line_and_the_viewer_still_quits(qtbot, capsys, monkeypatch):
    """The write fails inside the --quit-after slot: one line, exit 2, and the window closes
    and the event loop quits anyway (it used to stay open after a traceback)."""
    import errno

    from PySide6.QtWidgets import QApplication

    from app import startup

    class Window:
        closed = False

        def close(self):
            self.closed = True

    def full_disk(window, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(startup, "write_stats", full_disk)
    quits = []
    monkeypatch.setattr(QApplication.instance(), "quit", lambda: quits.append(True))
    result, window = {"code": 0}, Window()
    startup.finish(window, None, result, "/tmp/stats.json")
    err = capsys.readouterr().err.strip().splitlines()
    assert result["code"] == 2 and window.closed and quits == [True]
    assert err == ["r2etl-viewer: error: --stats-json /tmp/stats.json: cannot write (No space left on device)"]


def test_an_error_escaping_a_qt_slot_is_shown_in_the_status_bar(qtbot, monkeypatch):
    import sys

    from app import startup

    shown = []

    class Window:
        def show_error(self, message, dialog=True):
            shown.append((message, dialog))

    monkeypatch.setattr(sys, "excepthook", lambda *a: None)  # the traceback printer it keeps
    startup.install_slot_errors(Window())
    try:
        raise PermissionError(13, "Permission denied", "/x/stats.json")
    except PermissionError:
        sys.excepthook(*sys.exc_info())
    assert shown == [("PermissionError: [Errno 13] Permission denied: '/x/stats.json'", False)]
