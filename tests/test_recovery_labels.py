"""Labels are as safe as events: recovering a killed recording carries its labels sidecar over
(clipped to the saved events), recording again to its name never writes over them, and
``r2etl recover FOLDER|FILE`` recovers recordings saved anywhere."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from r2etl_core.cli.main import main
from r2etl_core.io import dv as dvio
from r2etl_core.io.labels import LabelSegment, read_labels, write_labels
from r2etl_core.io.recorder import Recorder
from r2etl_core.io.recovery import recover_interrupted
from scripts.synthetic_events import random_events

T0 = 1_000_000


def killed_recording(path: Path, labels: list[LabelSegment] | None = None) -> int:
    """What a recorder killed mid-way leaves: a .part holding the flushed events (the process
    is gone, so nothing finishes it), and the sidecar the labeller saved. Returns the time of
    the last event on disk."""
    rec = Recorder(path, 34, 34, "killed")
    rec._stop_flushing.set()  # the process is gone: no timer, no close
    events = random_events(2000, duration_us=400_000, t0_us=T0, seed=4)
    rec.write_events(events)
    rec._writer.flush()
    os.close(rec._writer._fd)  # as the OS does for a killed process: the writer's lock goes too
    rec._writer._fd = None
    if labels is not None:
        write_labels(path.with_name(path.name[: -len(".aedat4")] + ".labels.csv"), labels)
    return int(events.t_last_us)


def test_recording_again_to_a_killed_name_keeps_its_labels(tmp_path):
    path = tmp_path / "take.aedat4"
    last = killed_recording(path, [LabelSegment(T0, T0 + 100_000, "3"),
                                   LabelSegment(T0 + 100_000, T0 + 10**9, "5"),  # open when killed
                                   LabelSegment(T0 + 2 * 10**9, T0 + 3 * 10**9, "7")])  # after the cut
    again = Recorder(path, 34, 34, "again")
    try:
        found = again.recovered
        assert found is not None and found.labels == 2
        assert "2 labels: recovered as take.recovered.aedat4" in found.message
        assert read_labels(tmp_path / "take.recovered.labels.csv") == [
            LabelSegment(T0, T0 + 100_000, "3"), LabelSegment(T0 + 100_000, last + 1, "5")]
        assert not (tmp_path / "take.labels.csv").exists()  # the new recording starts clean
    finally:
        again.close()


def test_an_unreadable_sidecar_is_moved_over_as_it_was(tmp_path):
    path = tmp_path / "x.aedat4"
    killed_recording(path)
    (tmp_path / "x.labels.csv").write_bytes(b"\xff\xfe not a sidecar")
    found = recover_interrupted(path)
    assert found.labels == -1 and "unreadable" in found.message
    assert (tmp_path / "x.recovered.labels.csv").read_bytes() == b"\xff\xfe not a sidecar"


def test_labels_made_before_the_first_event_reached_the_disk_are_kept(tmp_path):
    path = tmp_path / "early.aedat4"
    rec = Recorder(path, 34, 34, "killed")  # killed before any event was written
    rec._stop_flushing.set()
    os.close(rec._writer._fd)
    rec._writer._fd = None
    write_labels(tmp_path / "early.labels.csv", [LabelSegment(T0, T0 + 5000, "1")])
    found = recover_interrupted(path)
    assert found.path is None and "labels kept as early.recovered.labels.csv" in found.message
    assert read_labels(tmp_path / "early.recovered.labels.csv") == [LabelSegment(T0, T0 + 5000, "1")]


def test_recover_command_on_a_folder_and_a_file(tmp_path, capsys):
    elsewhere = tmp_path / "lab" / "day3"
    elsewhere.mkdir(parents=True)
    killed_recording(elsewhere / "a.aedat4", [LabelSegment(T0, T0 + 50_000, "2")])
    killed_recording(elsewhere / "b.aedat4")
    assert main(["recover", str(elsewhere)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and "recovered as a.recovered.aedat4" in out[0] and "1 labels" in out[0]
    assert len(dvio.read_all_events(elsewhere / "b.recovered.aedat4")) > 0
    assert not list(elsewhere.glob("*.part.aedat4"))
    assert main(["recover", str(elsewhere)]) == 0
    assert "no interrupted recordings" in capsys.readouterr().out
    killed_recording(elsewhere / "c.aedat4")
    assert main(["recover", str(elsewhere / "c.part.aedat4")]) == 0
    assert "recovered as c.recovered.aedat4" in capsys.readouterr().out


@pytest.mark.parametrize("name,problem", [("none.aedat4", "none.part.aedat4: not found"),
                                          ("notes.txt", "notes.txt: expected a folder")])
def test_recover_command_refuses_with_one_line(tmp_path, capsys, name, problem):
    assert main(["recover", str(tmp_path / name)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("r2etl recover: error: ") and problem in err[0]


def test_a_recording_being_made_is_never_recovered_under_its_feet(tmp_path, capsys):
    """Another viewer (or this one) recording into the folder: its .part is locked, skipped."""
    live = Recorder(tmp_path / "live.aedat4", 34, 34, "live")
    try:
        live.write_events(random_events(500, duration_us=100_000, t0_us=T0, seed=5))
        live._writer.flush()
        assert main(["recover", str(tmp_path)]) == 0
        assert (tmp_path / "live.part.aedat4").exists() and not (tmp_path / "live.recovered.aedat4").exists()
        assert main(["recover", str(tmp_path / "live.aedat4")]) == 2
        assert "is being recorded right now" in capsys.readouterr().err
    finally:
        live.close()
    assert len(dvio.read_all_events(tmp_path / "live.aedat4")) == 500
