"""Recordings survive a killed process: our AEDAT 4 encoder against dv-processing's reader, a
real recorder process SIGKILLed mid-recording (at most ~0.5 s of events lost), and recovery of
the .part it leaves (events rewritten atomically, predictions cut to the surviving events)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from r2etl_core.errors import InputError
from r2etl_core.io import dv as dvio
from r2etl_core.io.dv import encode
from r2etl_core.io.dv.guard import scan_file
from r2etl_core.io.recorder import Recorder
from r2etl_core.io.recovery import recover_interrupted, recovered_name
from r2etl_core.types import EventBatch
from scripts.synthetic_events import random_events

from helpers import assert_same_events

REPO = Path(__file__).resolve().parents[1]
BATCH_US = 10_000  # the child records 10 ms of events every 10 ms of wall time
MAX_LOSS_S = 0.5


# ---------------------------------------------------------------- the encoder

def test_dv_reads_our_files_like_its_own(tmp_path):
    dv = pytest.importorskip("dv_processing")
    ev = random_events(50_000, 640, 480, duration_us=2_000_000, t0_us=10**12, seed=5)
    path = tmp_path / "ours.aedat4"
    with dvio.AedatWriter(path, 640, 480, "DVXplorer_<r2etl>", flush_s=0) as writer:
        for lo in range(0, len(ev), 3000):
            writer.write(ev.select(slice(lo, lo + 3000)))
    scan = scan_file(path)
    assert scan.damage is None and scan.table_position > 0 and len(scan.packets) == 17
    rec = dv.io.MonoCameraRecording(str(path))
    assert rec.getCameraName() == "DVXplorer_<r2etl>" and tuple(rec.getEventResolution()) == (640, 480)
    lo, hi = 10**12 + 700_000, 10**12 + 1_300_000
    window = rec.getEventsTimeRange(lo, hi)  # seeks by our data table
    assert len(window) == int(((ev.t >= lo) & (ev.t < hi)).sum())
    assert_same_events(dvio.read_all_events(path), ev)


def test_packets_follow_time_and_size_limits(tmp_path, monkeypatch):
    monkeypatch.setattr("r2etl_core.io.dv.writers.MAX_PACKET_EVENTS", 1000)
    ev = random_events(4500, 34, 34, seed=6)
    path = tmp_path / "big.aedat4"
    writer = dvio.AedatWriter(path, 34, 34, flush_s=3600)
    writer.write(ev.select(slice(0, 10)))
    size = writer.part_path.stat().st_size
    writer.flush_if_due()
    assert writer.part_path.stat().st_size == size  # 10 events waiting, not yet due
    writer.write(ev.select(slice(10, None)))  # now 4500 are waiting: 4 full packets + 500
    assert writer.part_path.stat().st_size > size
    writer.close()
    assert len(scan_file(path).packets) == 5
    assert_same_events(dvio.read_all_events(path), ev)


# ---------------------------------------------------------------- a killed recorder

RECORDER = """
import sys, time
sys.path.insert(0, {repo!r})
from r2etl_core.io.recorder import Recorder
from scripts.synthetic_events import random_events
from r2etl_core.types import EventBatch
from r2etl_core.types import Prediction, StageTimings
events = random_events(40_000, 34, 34, duration_us=10_000_000, t0_us=0, seed=7)
rec = Recorder({path!r}, 34, 34, "crash-test")
t0, k = time.monotonic(), 0
while True:
    lo, hi = k * {batch}, (k + 1) * {batch}
    rec.write_events(events.select((events.t >= lo) & (events.t < hi)))
    rec.write_prediction(Prediction(k, lo, hi, 4, (0.5, 0.5), 0, "0", 0.5,
                                    StageTimings(0.1, 0.1, 0.0, 1.0), k, False, 10.0, 1.0))
    print(hi, flush=True)
    k += 1
    time.sleep(max(0.0, t0 + k * {batch} / 1e6 - time.monotonic()))
"""


def record_and_kill(tmp_path: Path, after_s: float) -> tuple[Path, int]:
    """Record in a child process, SIGKILL it ``after_s`` in; (path, event time handed over)."""
    path = tmp_path / "take.aedat4"
    script = RECORDER.format(repo=str(REPO), path=str(path), batch=BATCH_US)
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        handed = 0
        first = proc.stdout.readline()  # recording started (imports take a while)
        assert first.strip(), proc.stderr.read()
        handed = int(first)
        while handed < after_s * 1e6:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            handed = int(line)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        handed = max([handed, *map(int, proc.stdout.read().split())])
    finally:
        proc.kill()
        proc.wait(10)
    return path, handed


@pytest.mark.parametrize("after_s", [0.3, 2.0])
def test_killed_recording_loses_at_most_half_a_second(tmp_path, after_s):
    path, handed_us = record_and_kill(tmp_path, after_s)
    part = tmp_path / "take.part.aedat4"
    assert part.exists() and not path.exists()
    reader = dvio.AedatReader(part)  # readable up to the cut
    got = []
    try:
        got.extend(reader.batches())
    except InputError:
        pass  # cut inside a packet: the events before it came out
    ev = EventBatch.concat(got, 34, 34)
    lost_s = (handed_us - ev.t_last_us) / 1e6
    assert len(ev) > 0 and lost_s <= MAX_LOSS_S, f"{lost_s:.3f} s of events lost"
    full = random_events(40_000, 34, 34, duration_us=10_000_000, t0_us=0, seed=7)
    assert_same_events(ev, full.select(slice(0, len(ev))))  # a prefix, nothing garbled


def test_same_name_again_recovers_the_killed_recording(tmp_path):
    path, handed_us = record_and_kill(tmp_path, 1.0)
    lines = (tmp_path / "take.predictions.jsonl").read_text().splitlines()
    rec = Recorder(path, 34, 34, "again")  # the user picks the same name
    try:
        found = rec.recovered
        assert found is not None and found.path == tmp_path / "take.recovered.aedat4"
        assert found.message.startswith(f"an interrupted recording holds {found.events} events: "
                                        "recovered as take.recovered.aedat4")
        recovered = dvio.read_all_events(found.path)  # a finished file: data table and all
        assert scan_file(found.path).damage is None and len(recovered) == found.events
        kept = [json.loads(x) for x in (tmp_path / "take.recovered.predictions.jsonl").read_text().splitlines()]
        assert kept and max(p["t_end_us"] for p in kept) <= recovered.t_last_us + 1
        assert found.predictions == len(kept) and found.predictions + found.predictions_dropped >= len(lines) - 1
    finally:
        rec.close()
    assert path.exists()  # the new recording went on under the chosen name


def test_recovery_of_an_empty_or_unusable_part(tmp_path):
    path = tmp_path / "x.aedat4"
    header, _ = encode.header_bytes("cam", 34, 34)
    (tmp_path / "x.part.aedat4").write_bytes(header)  # killed before the first packet
    (tmp_path / "x.predictions.jsonl").write_text('{"t_end_us": 5}\n')
    found = recover_interrupted(path)
    assert found is not None and found.path is None and "held no events" in found.message
    assert not (tmp_path / "x.part.aedat4").exists() and not (tmp_path / "x.predictions.jsonl").exists()
    assert recover_interrupted(path) is None
    (tmp_path / "x.part.aedat4").write_bytes(b"#!AER-DAT4.0\r\n" + b"\xff" * 64)
    with pytest.raises(InputError, match="cannot be recovered"):
        recover_interrupted(path)
    (tmp_path / "x.recovered.aedat4").write_bytes(b"")
    assert recovered_name(path).name == "x.recovered-2.aedat4"


def test_a_failed_write_leaves_a_recoverable_part(tmp_path, monkeypatch):
    import errno

    from r2etl_core.io.dv import writers

    path = tmp_path / "full.aedat4"
    rec = Recorder(path, 34, 34, "full-disk")
    ev = random_events(3000, 34, 34, duration_us=300_000, seed=8)
    rec.write_events(ev.select(slice(0, 1000)))
    rec._writer.flush()  # the first 1000 events reach the file
    real_write = os.write

    def disk_full(fd, data):
        real_write(fd, bytes(data)[: len(data) // 2])  # half a packet, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(writers.os, "write", disk_full)
    rec.write_events(ev.select(slice(1000, None)))
    deadline = time.monotonic() + 10
    while rec.failure is None and time.monotonic() < deadline:
        time.sleep(0.02)  # the recorder's timer writes them 0.25 s later, and fails
    rec.close()
    monkeypatch.setattr(writers.os, "write", real_write)
    assert rec.failure and "No space left on device" in rec.failure
    assert not rec.finished and not path.exists() and (tmp_path / "full.part.aedat4").exists()
    found = recover_interrupted(path)
    assert found is not None and found.events == 1000
    assert_same_events(dvio.read_all_events(found.path), ev.select(slice(0, 1000)))


def test_a_folder_scan_recovers_every_killed_recording_and_keeps_unusable_ones(tmp_path):
    from r2etl_core.io.recovery import interrupted_in, recover_folder

    path, _ = record_and_kill(tmp_path, 0.5)
    (tmp_path / "bad.part.aedat4").write_bytes(b"#!AER-DAT4.0\r\n" + b"\xff" * 64)
    assert interrupted_in(tmp_path) == [tmp_path / "bad.aedat4", path]
    found = recover_folder(tmp_path)
    assert [f.path for f in found] == [None, tmp_path / "take.recovered.aedat4"]
    assert "bad.part.aedat4: could not be recovered" in found[0].message
    assert len(dvio.read_all_events(found[1].path)) == found[1].events > 0
    assert interrupted_in(tmp_path) == [tmp_path / "bad.aedat4"]  # left for a later try, never deleted
    assert interrupted_in(tmp_path / "missing") == []
