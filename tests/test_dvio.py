"""r2etl_core.io.dv against real recordings (pinned facts), every bad input, fake cameras,
a real NetworkWriter on 127.0.0.1, and the writer's write-then-read round trip."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from r2etl_core.errors import InputError, NoCameraError
from r2etl_core.io import dv as dvio
from r2etl_core.io.dv import readers as dv_readers
from r2etl_core.types import EventBatch
from scripts.synthetic_events import random_events

from helpers import assert_same_events

REPO_ROOT = Path(__file__).resolve().parents[1]
PROJECT_RECORDINGS = REPO_ROOT / "recordings"
LAB = PROJECT_RECORDINGS / "davis346-lab-frames.aedat4"
TRIMMED = PROJECT_RECORDINGS / "davis346-trimmed.aedat4"


def assert_plain(exc: Exception) -> str:
    """A user-facing message: one line, no C++ source paths or stack traces."""
    text = str(exc)
    assert "\n" not in text and "/project/" not in text and "Stacktrace" not in text, text
    return text


# ---------------------------------------------------------------- real recordings

# file, camera, size, events, first timestamp, last - first (us), ON events
FACTS = [
    (LAB, "DAVIS346_00000104", (346, 260), 117_667, 1633953690975950, 129_999, 72_363),
    (TRIMMED, "DAVIS346_00000002", (346, 260), 6_676, 1589163147368868, 169_941, 3_563),
]


@pytest.mark.parametrize("path,camera,size,count,t_first,span,on", FACTS, ids=["lab-frames", "trimmed"])
def test_shipped_davis346_recordings_pinned(path, camera, size, count, t_first, span, on):
    info = dvio.recording_info(path)
    assert (info.camera, (info.width, info.height), info.event_count) == (camera, size, count)
    assert (info.t_first_us, info.duration_us) == (t_first, span)
    ev = dvio.read_all_events(path)
    assert len(ev) == count and (ev.width, ev.height) == size
    assert (ev.t.dtype, ev.x.dtype, ev.y.dtype, ev.p.dtype) == (np.int64, np.int16, np.int16, np.int8)
    assert ev.t_first_us == t_first and ev.t_last_us - ev.t_first_us == span
    assert int(ev.p.sum()) == on and set(np.unique(ev.p)) == {0, 1}
    assert bool(np.all(np.diff(ev.t) >= 0))
    assert int(ev.x.max()) < size[0] and int(ev.y.max()) < size[1]


def test_dvxplorer_recording_pinned(shared_data):
    path = shared_data / "recordings" / "dvxplorer-320x240-person.aedat4"
    info = dvio.recording_info(path)
    assert (info.camera, info.width, info.height, info.event_count) == ("DVXplorer_DXB00010", 320, 240, 111_954)
    assert info.duration_us == 589_917
    assert len(dvio.read_all_events(path)) == 111_954


@pytest.mark.parametrize("path", [LAB, TRIMMED], ids=["data-table", "sequential"])
def test_batches_from_a_time_equal_the_tail_of_the_full_read(path):
    reader = dvio.AedatReader(path)
    full = reader.read_all()
    start = reader.info.t_first_us + 50_000
    tail = EventBatch.concat(list(reader.batches(start)), full.width, full.height)
    assert_same_events(tail, full.select(full.t >= start))
    assert 0 < len(tail) < len(full)
    assert len(reader.read_all()) == len(full)  # reading again after a seek starts over


# ---------------------------------------------------------------- bad input

def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def copy_cut(src: Path, dst: Path, n_bytes: int) -> Path:
    return write(dst, src.read_bytes()[:n_bytes])


@pytest.mark.parametrize("make,expected", [
    (lambda d: d / "missing.aedat4", ".aedat4 recording not found"),
    (lambda d: d, "is a folder"),
    (lambda d: write(d / "empty.aedat4", b""), ".aedat4 recording is empty"),
    (lambda d: copy_cut(LAB, d / "half.aedat4", LAB.stat().st_size // 2), "truncated or corrupt"),
    (lambda d: copy_cut(LAB, d / "head.aedat4", 100), "truncated .aedat4 file"),
    (lambda d: write(d / "noise.aedat4", np.random.default_rng(1).bytes(20_000)), "not an AEDAT 4 file"),
    (lambda d: write(d / "garbled.aedat4", LAB.read_bytes()[:2000] + bytes(5000)), "truncated or corrupt"),
    (lambda d: copy_cut(LAB, d / "renamed.aedat", 10**9), "must be named *.aedat4"),
], ids=["missing", "folder", "empty", "truncated", "cut-in-header", "random-bytes", "garbled",
        "aedat4-named-aedat"])
def test_bad_files_give_one_line_input_errors(tmp_path, make, expected):
    path = make(tmp_path)  # (a truncated file opens: see tests/test_corrupt_recordings.py)
    with pytest.raises(InputError) as err:
        dvio.recording_info(path)
    assert expected in assert_plain(err.value)
    assert err.value.where == str(path)


def test_aedat2_file_is_named_as_such(shared_data):
    with pytest.raises(InputError, match=r"AEDAT 2\.0 is not supported, only AEDAT 4 \(\.aedat4\)"):
        dvio.AedatReader(shared_data / "recordings" / "aedat2-header-only.aedat")


def test_recording_without_event_stream(tmp_path):
    # our writer only writes events, so make a frames-only file with dv itself
    dv = pytest.importorskip("dv_processing")
    path = tmp_path / "frames.aedat4"
    config = dv.io.MonoCameraWriter.FrameOnlyConfig("DAVIS346_test", (346, 260))
    writer = dv.io.MonoCameraWriter(str(path), config)
    writer.writeFrame(dv.Frame(100, np.zeros((260, 346), np.uint8)))
    del writer
    with pytest.raises(InputError, match=r"no event stream in this recording \(streams: frames\)"):
        dvio.AedatReader(path)


def test_recording_with_no_events(tmp_path):
    dvio.AedatWriter(tmp_path / "none.aedat4", 10, 10).close()
    with pytest.raises(InputError, match="holds no events"):
        dvio.AedatReader(tmp_path / "none.aedat4")


# ---------------------------------------------------------------- writer

def test_writer_round_trip_is_exact(tmp_path):
    ev = random_events(30_000, 346, 260, duration_us=400_000, t0_us=10**12, seed=3)
    path = tmp_path / "rec.aedat4"
    with dvio.AedatWriter(path, 346, 260, "DAVIS346_r2etl") as writer:
        for i in range(0, len(ev), 4096):
            writer.write(ev.select(slice(i, i + 4096)))
        assert writer.part_path.exists() and not path.exists()
    assert not writer.part_path.exists()
    info = dvio.recording_info(path)
    assert (info.camera, info.width, info.height, info.event_count) == ("DAVIS346_r2etl", 346, 260, 30_000)
    assert_same_events(dvio.read_all_events(path), ev)


def test_unfinished_recording_never_replaces_a_good_file(tmp_path):
    path = tmp_path / "take.aedat4"
    good = random_events(1000, 34, 34, seed=1)
    with dvio.AedatWriter(path, 34, 34) as w:
        w.write(good)
    newer = random_events(500, 34, 34, seed=2)
    writer = dvio.AedatWriter(path, 34, 34)
    writer.write(newer)
    assert_same_events(dvio.read_all_events(path), good)  # still the old file while writing
    writer.close()
    writer.close()  # idempotent
    assert_same_events(dvio.read_all_events(path), newer)


def test_crash_leaves_the_part_file(tmp_path):
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(REPO_ROOT)!r})
        from r2etl_core.io import dv as dvio
        from scripts.synthetic_events import random_events
        w = dvio.AedatWriter({str(tmp_path / 'crash.aedat4')!r}, 34, 34)
        w.write(random_events(2000, 34, 34))
        os._exit(3)  # no close(): like a crash
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert not (tmp_path / "crash.aedat4").exists()
    assert (tmp_path / "crash.part.aedat4").exists()
    with pytest.raises(InputError, match="unfinished recording is in the way"):
        dvio.AedatWriter(tmp_path / "crash.aedat4", 34, 34)


def test_writer_drops_events_older_than_written_and_checks_names(tmp_path):
    with dvio.AedatWriter(tmp_path / "a.aedat4", 34, 34) as w:
        w.write(random_events(100, 34, 34, duration_us=1000, t0_us=5000))
        w.write(random_events(100, 34, 34, duration_us=10_000, t0_us=0))  # mostly in the past
        with pytest.raises(ValueError, match="source switch"):
            w.write(random_events(10, 64, 48))
    assert w.events_dropped > 0 and w.events_written + w.events_dropped == 200
    assert len(dvio.read_all_events(tmp_path / "a.aedat4")) == w.events_written
    with pytest.raises(InputError, match=r"must be named \*\.aedat4"):
        dvio.AedatWriter(tmp_path / "a.aedat4.part", 34, 34)  # dv itself would abort the process
    with pytest.raises(InputError, match="does not exist"):
        dvio.AedatWriter(tmp_path / "nope" / "a.aedat4", 34, 34)


def test_event_store_conversion_round_trip_and_order():
    ev = random_events(5000, 640, 480, seed=4)
    assert_same_events(dvio.from_event_store(dvio.to_event_store(ev), 640, 480), ev)
    with pytest.raises(ValueError, match="time-ordered"):
        dvio.to_event_store(ev.select(slice(None, None, -1)))


# ---------------------------------------------------------------- cameras

from fake_camera import Descriptor, FakeDevice  # noqa: E402


def test_no_camera_gives_the_plain_message(monkeypatch):
    monkeypatch.setattr(dv_readers, "_discover_devices", lambda: [])
    assert dvio.discover_cameras() == []
    with pytest.raises(NoCameraError) as err:
        dvio.open_camera()
    assert str(err.value) == "no event camera found (is it plugged in? check `lsusb`)"


def test_real_discovery_without_camera_is_plain():
    if dvio.discover_cameras():
        pytest.skip("a camera is attached to this machine")
    with pytest.raises(NoCameraError, match=r"^no event camera found \(is it plugged in\? check `lsusb`\)$"):
        dvio.open_camera("00000999")


def test_unknown_serial_lists_the_cameras_found(monkeypatch):
    monkeypatch.setattr(dv_readers, "_discover_devices", lambda: [Descriptor("DXA001"), Descriptor("DXA002")])
    with pytest.raises(NoCameraError, match="no event camera with serial 'nope'; found: DXA001, DXA002"):
        dvio.open_camera("nope")


def test_camera_that_cannot_open_is_explained(monkeypatch):
    def refuse(serial):
        raise RuntimeError("/project/x.hpp(1): open()\nRuntimeError: device busy\nStacktrace:\n 0# ...")

    monkeypatch.setattr(dv_readers, "_discover_devices", lambda: [Descriptor("DXA001")])
    monkeypatch.setattr(dv_readers, "_open_device", refuse)
    with pytest.raises(NoCameraError) as err:
        dvio.open_camera()
    assert "camera DXA001 was found but cannot be opened" in assert_plain(err.value)


def test_camera_stream_ends_cleanly_when_unplugged(monkeypatch):
    packets = [random_events(200, 640, 480, duration_us=1000, t0_us=i * 1000, seed=i) for i in range(3)]
    opened = []
    monkeypatch.setattr(dv_readers, "_discover_devices", lambda: [Descriptor("FAKE01")])
    monkeypatch.setattr(dv_readers, "_open_device", lambda serial: opened.append(serial) or FakeDevice(packets))
    camera = dvio.open_camera()
    assert opened == ["FAKE01"] and (camera.width, camera.height, camera.camera) == (640, 480, "DVXplorer_FAKE01")
    got = list(camera.batches())
    assert camera.stopped_reason == "disconnected"
    assert_same_events(EventBatch.concat(got, 640, 480), EventBatch.concat(packets, 640, 480))


# ---------------------------------------------------------------- network

def test_refused_connection_is_explained(free_port):
    with pytest.raises(InputError) as err:
        dvio.open_network("127.0.0.1", free_port)
    assert str(err.value) == f"127.0.0.1:{free_port}: connection refused: is a DV network writer running there?"


def test_network_round_trip_through_a_real_writer(free_port):
    server = dvio.NetworkEventWriter("127.0.0.1", free_port, 346, 260, "DAVIS346_net")
    client = dvio.open_network("127.0.0.1", free_port)
    stream = client.batches()
    try:
        assert (client.camera, client.width, client.height) == ("DAVIS346_net", 346, 260)
        assert server.wait_for_clients(1, timeout_s=5)
        sent = random_events(3000, 346, 260, seed=5)
        for i in range(0, 3000, 1000):
            server.write(sent.select(slice(i, i + 1000)))
        got = []
        for batch in stream:
            got.append(batch)
            if sum(map(len, got)) >= len(sent):
                break
        assert_same_events(EventBatch.concat(got, 346, 260), sent)
        with pytest.raises(RuntimeError, match="still connected"):
            server.close(timeout_s=0.05)  # destroying it now would hang forever
    finally:  # even when an assert failed: the client goes first, or the process hangs
        client.close()
        stream.close()  # the reading side releases the connection
        server.close(timeout_s=5)
    assert server.client_count == 0


# ---------------------------------------------------------------- noise filter

def test_background_activity_filter_removes_isolated_events():
    # a burst on a 3x3 patch (events support each other) plus lone events far apart in time
    n = 300
    burst_t = np.arange(n, dtype=np.int64) * 3
    lone_t = 100_000 + np.arange(20, dtype=np.int64) * 50_000
    t = np.concatenate([burst_t, lone_t])
    x = np.concatenate([10 + (np.arange(n) % 3), 5 + np.arange(20) * 13]).astype(np.int16)
    y = np.concatenate([10 + (np.arange(n) // 3) % 3, 200 - np.arange(20) * 7]).astype(np.int16)
    ev = EventBatch(t, x, y, np.ones(len(t), np.int8), 346, 260)
    out = dvio.BackgroundActivityFilter(346, 260, dvio.NoiseFilterParams(duration_us=2000))(ev)
    assert len(out) >= n - 10  # the burst survives (its first events have no support yet)
    assert int((out.t >= 100_000).sum()) == 0  # every lone event is gone
    with pytest.raises(ValueError):
        dvio.NoiseFilterParams(duration_us=0)
