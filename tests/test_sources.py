"""Sources: exact replay, pacing (loose lower bounds only), pause / speed / seek / loop from
another thread, N-MNIST as a stream with ground truth, live sources, and open_source."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from r2etl_core.errors import InputError, NoCameraError
from r2etl_core.protocols import SEEK
from r2etl_core.io import dv as dvio
from r2etl_core.io.dv import readers as dv_readers
from r2etl_core.io.labels import label_at
from r2etl_core.io.nmnist import write_bin
from r2etl_core.stream.sources import (
    CameraSource,
    FileSource,
    NetworkSource,
    NMNISTLayout,
    NMNISTSource,
    open_source,
    parse_host_port,
)
from r2etl_core.types import EventBatch
from scripts.synthetic_events import random_events

from helpers import assert_same_events

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"
LAB = RECORDINGS / "davis346-lab-frames.aedat4"  # 117,667 events over 129,999 us
TRIMMED = RECORDINGS / "davis346-trimmed.aedat4"  # 6,676 events over 169,941 us, no data table


def concat(batches: list[EventBatch]) -> EventBatch:
    return EventBatch.concat(batches, batches[0].width, batches[0].height)


def after_seek(items: list) -> EventBatch:
    """The events of a replay that was sought: the SEEK mark comes first, in band, once."""
    assert items[0] is SEEK and SEEK not in items[1:]
    return concat(items[1:])


class Collector(threading.Thread):
    """Iterates a source on its own thread, like the engine does."""

    def __init__(self, source):
        super().__init__(daemon=True)
        self.source, self.got, self.error = source, [], None

    def run(self):
        try:
            for batch in self.source.batches():
                self.got.append(batch)
        except Exception as exc:  # surfaced by the test
            self.error = exc

    def count(self) -> int:
        return sum(len(b) for b in list(self.got))

    def wait_for(self, events: int, timeout_s: float = 10) -> None:
        deadline = time.monotonic() + timeout_s
        while self.count() < events and time.monotonic() < deadline:
            time.sleep(0.002)
        assert self.count() >= events


# ---------------------------------------------------------------- file source

def test_unpaced_file_source_replays_every_event_exactly():
    src = FileSource(LAB, speed=None)
    info = src.info
    assert (info.kind, info.width, info.height, info.camera) == ("file", 346, 260, "DAVIS346_00000104")
    assert (info.duration_us, info.t_start_us, info.event_count, info.seekable) == (
        129_999, 1633953690975950, 117_667, True)
    batches = list(src.batches())
    assert all((b.width, b.height) == (346, 260) for b in batches)
    assert_same_events(concat(batches), dvio.read_all_events(LAB))
    assert src.position_us == 129_999


def test_pacing_follows_event_time():
    src = FileSource(TRIMMED, speed=1.0)
    start = src.info.t_start_us
    t_before, t0, n = time.monotonic(), None, 0
    for batch in src.batches():
        now = time.monotonic()
        if t0 is None:  # the first batch sets the clock
            t0, d0 = now, (batch.t_last_us - start) / 1e6
        # no batch comes before its last event is due in wall time
        assert now - t0 >= (batch.t_last_us - start) / 1e6 - d0 - 0.005
        assert batch.t_last_us - batch.t_first_us < 4_000  # small batches when paced
        n += 1
    assert time.monotonic() - t_before >= 0.1699  # the recording spans 169,941 us
    assert n > 10


def test_speed_10x_is_paced_but_quick():
    t0 = time.monotonic()
    n = sum(len(b) for b in FileSource(LAB, speed=10).batches())
    wall = time.monotonic() - t0
    assert n == 117_667
    assert 0.0125 <= wall < 5.0  # 130 ms / 10 = 13 ms at least; never a tight upper bound


def test_speed_change_from_another_thread_takes_effect():
    src = FileSource(LAB, speed=0.1)  # 1.3 s at this speed
    reader = Collector(src)
    t0 = time.monotonic()
    reader.start()
    reader.wait_for(1)
    src.set_speed(None)
    reader.join(5)
    assert not reader.is_alive() and reader.error is None
    assert reader.count() == 117_667 and time.monotonic() - t0 < 1.2
    with pytest.raises(InputError, match="between 0.1 and 10"):
        src.set_speed(20)


def test_pause_stops_the_stream_and_resume_continues():
    src = FileSource(TRIMMED, speed=1.0)
    reader = Collector(src)
    reader.start()
    reader.wait_for(1)
    src.pause()
    assert src.paused
    time.sleep(0.03)  # a batch already due may still arrive
    held = reader.count()
    time.sleep(0.25)  # longer than the rest of the recording at 1x
    assert reader.count() == held < 6_676
    src.resume()
    reader.join(5)
    assert reader.count() == 6_676 and reader.error is None


def test_close_from_another_thread_ends_a_paused_stream():
    src = FileSource(LAB, speed=1.0)
    src.pause()
    reader = Collector(src)
    reader.start()
    time.sleep(0.05)
    src.close()
    reader.join(2)
    assert not reader.is_alive() and reader.got == []


@pytest.mark.parametrize("path", [LAB, TRIMMED], ids=["data-table", "sequential"])
def test_seek_before_start_plays_from_there(path):
    src = FileSource(path, speed=None)
    src.seek(50_000)
    assert src.position_us == 50_000
    full = dvio.read_all_events(path)
    assert_same_events(after_seek(list(src.batches())), full.select(full.t >= src.info.t_start_us + 50_000))


def test_seek_back_keeps_timestamps_increasing():
    src = FileSource(LAB, speed=None)
    full = dvio.read_all_events(LAB)
    stream = src.batches()
    first = next(stream)
    src.seek(0)
    after = list(stream)
    assert after[0] is SEEK and SEEK not in after[1:]  # in band: the jump comes before its events
    rest = concat(after[1:])
    assert bool(np.all(np.diff(np.concatenate([first.t, rest.t])) >= 0))
    assert rest.t_first_us > first.t_last_us
    back = np.array([src.recording_time_us(t) for t in rest.t[:: 997]])
    assert np.array_equal(back, full.t[:: 997])  # the whole recording again, one period later
    assert len(rest) == len(full) and rest.t_first_us == full.t_first_us + src.period_us


def test_loop_repeats_with_increasing_timestamps():
    src = FileSource(TRIMMED, speed=None, loop=True)
    full = dvio.read_all_events(TRIMMED)
    got = []
    for batch in src.batches():
        got.append(batch)
        if sum(map(len, got)) > 2 * len(full) + 100:
            src.set_loop(False)  # ends after the current (third) pass
    ev = concat(got)
    assert len(ev) == 3 * len(full)
    assert bool(np.all(np.diff(ev.t) >= 0))
    third = ev.select(slice(2 * len(full), None))
    assert np.array_equal(third.t - 2 * src.period_us, full.t)
    assert np.array_equal(third.x, full.x) and src.period_us == 169_942
    assert src.recording_time_us(int(third.t[5])) == int(full.t[5])


# ---------------------------------------------------------------- N-MNIST

def make_nmnist(root: Path) -> dict[str, EventBatch]:
    samples = {}
    for label, sample_id in [("3", "00002"), ("7", "00001"), ("3", "00005")]:
        (root / label).mkdir(parents=True, exist_ok=True)
        ev = random_events(500, 34, 34, duration_us=300_000, seed=int(sample_id))
        write_bin(root / label / f"{sample_id}.bin", ev)
        samples[sample_id] = ev
    return samples


def test_nmnist_folder_is_one_stream_with_ground_truth(tmp_path):
    samples = make_nmnist(tmp_path)
    layout = NMNISTLayout(sample_us=310_000, gap_us=90_000)
    src = NMNISTSource(tmp_path, speed=None, layout=layout)
    assert (src.info.kind, src.info.width, src.info.height) == ("nmnist", 34, 34)
    assert [(s.start_us, s.end_us, s.label) for s in src.segments] == \
        [(0, 310_000, "7"), (400_000, 710_000, "3"), (800_000, 1_110_000, "3")]  # by file name
    ev = concat(list(src.batches()))
    order = ["00001", "00002", "00005"]
    for k, sample_id in enumerate(order):
        part = ev.select((ev.t >= k * 400_000) & (ev.t < (k + 1) * 400_000))
        assert np.array_equal(part.t - k * 400_000, samples[sample_id].t)
        assert np.array_equal(part.x, samples[sample_id].x)
    assert label_at(src.segments, 450_000) == "3" and label_at(src.segments, 350_000) is None
    assert src.info.duration_us == 1_110_000


def test_nmnist_single_file_and_seek(tmp_path):
    samples = make_nmnist(tmp_path)
    src = open_source(str(tmp_path / "7" / "00001.bin"), speed=None)
    assert isinstance(src, NMNISTSource) and [s.label for s in src.segments] == ["7"]
    src.seek(150_000)
    ev = after_seek(list(src.batches()))
    want = samples["00001"]
    assert np.array_equal(ev.t, want.t[want.t >= 150_000])


def test_real_nmnist_folder(shared_data):
    src = NMNISTSource(shared_data / "nmnist" / "Train", speed=None)
    counts = {str(d): 0 for d in range(10)}
    for seg in src.segments:
        counts[seg.label] += 1
    assert counts == {"0": 97, "1": 116, "2": 99, "3": 93, "4": 105, "5": 92, "6": 94, "7": 117,
                      "8": 87, "9": 100}
    assert src.samples[0][0].name == "00001.bin" and src.segments[0].label == "5"  # MNIST image 0 is a 5


def test_folder_without_samples(tmp_path):
    with pytest.raises(InputError, match="no .bin event samples in this folder"):
        open_source(str(tmp_path))


# ---------------------------------------------------------------- live sources

from fake_camera import Descriptor, FakeDevice  # noqa: E402


def test_camera_source_ends_when_unplugged(monkeypatch):
    packets = [random_events(100, 346, 260, duration_us=1000, t0_us=i * 1000, seed=i) for i in range(4)]
    monkeypatch.setattr(dv_readers, "_discover_devices", lambda: [Descriptor("0042")])
    monkeypatch.setattr(dv_readers, "_open_device", lambda serial: FakeDevice(packets, "DAVIS346_FAKE", (346, 260)))
    src = open_source("camera:0042")
    assert isinstance(src, CameraSource)
    assert (src.info.kind, src.info.name, src.info.camera, src.info.width) == ("camera", "0042", "DAVIS346_FAKE", 346)
    assert src.info.seekable is False
    assert sum(len(b) for b in src.batches()) == 400 and src.end_reason is not None and "disconnected" in src.end_reason


def test_no_camera(monkeypatch):
    monkeypatch.setattr(dv_readers, "_discover_devices", lambda: [])
    with pytest.raises(NoCameraError, match=r"^no event camera found \(is it plugged in\? check `lsusb`\)$"):
        open_source("camera")


def test_network_source_against_a_real_writer(free_port):
    server = dvio.NetworkEventWriter("127.0.0.1", free_port, 640, 480, "DVXplorer_net")
    src = open_source(f"tcp://127.0.0.1:{free_port}")
    reader = Collector(src)
    try:
        assert isinstance(src, NetworkSource)
        assert (src.info.kind, src.info.name, src.info.width, src.info.height) == \
            ("network", f"127.0.0.1:{free_port}", 640, 480)
        reader.start()
        assert server.wait_for_clients(1, timeout_s=5)
        sent = random_events(2000, 640, 480, seed=9)
        server.write(sent)
        reader.wait_for(2000, timeout_s=5)
    finally:  # the client must let go before the server is destroyed (dv would hang)
        src.close()
        if reader.ident is not None:
            reader.join(2)
        server.close(timeout_s=5)
    assert not reader.is_alive() and src.end_reason is None
    assert_same_events(concat(reader.got), sent)


def test_network_source_ends_when_the_writer_goes_away(free_port):
    # the writer lives in another process that exits abruptly (a DV instance being closed)
    server = textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {str(RECORDINGS.parent)!r})
        from r2etl_core.io import dv as dvio
        from scripts.synthetic_events import random_events
        w = dvio.NetworkEventWriter("127.0.0.1", {free_port}, 34, 34, "remote")
        print("ready", flush=True)
        w.wait_for_clients(1, timeout_s=20)
        w.write(random_events(1000, 34, 34, seed=11))
        time.sleep(0.3)
        os._exit(0)
    """)
    proc = subprocess.Popen([sys.executable, "-c", server], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        src = NetworkSource("127.0.0.1", free_port)
        reader = Collector(src)
        reader.start()
        reader.join(20)
        assert not reader.is_alive() and reader.error is None
        lost = f"connection to 127.0.0.1:{free_port} lost after"
        assert src.end_reason is not None and src.end_reason.startswith(lost)
        assert_same_events(concat(reader.got), random_events(1000, 34, 34, seed=11))
    finally:
        proc.kill()
        proc.wait(10)


# ---------------------------------------------------------------- open_source

def test_open_source_dispatch(tmp_path):
    assert isinstance(open_source(str(LAB), speed=None), FileSource)
    make_nmnist(tmp_path / "nm")
    assert isinstance(open_source(str(tmp_path / "nm")), NMNISTSource)


@pytest.mark.parametrize("name,problem", [("a.raw", "not a Prophesee RAW file"),
                                          ("a.dat", "corrupt or unreadable Prophesee DAT file"),
                                          ("a.es", "corrupt or unreadable Event Stream (.es) file"),
                                          ("a.aedat", "not an AEDAT file"), ("a.h5", "corrupt or unreadable HDF5"),
                                          ("a.csv", "CSV header")])
def test_other_formats_of_zeros_are_one_line_naming_the_file(tmp_path, name, problem):
    """Readable formats since issue 20 (tests/test_eventfiles.py): 64 zero bytes are no such file."""
    (tmp_path / name).write_bytes(b"\x00" * 64)
    with pytest.raises(InputError) as err:
        open_source(str(tmp_path / name))
    assert str(err.value).startswith(f"{tmp_path / name}: {problem}") and "\n" not in str(err.value)
    with pytest.raises(InputError, match="file not found"):
        open_source(str(tmp_path / "missing" / name))


def test_aedat2_through_open_source(shared_data):
    with pytest.raises(InputError, match=r"aedat2-header-only.aedat: the AEDAT 2\.0 file holds no events"):
        open_source(str(shared_data / "recordings" / "aedat2-header-only.aedat"))


def test_bad_specs(tmp_path):
    with pytest.raises(InputError, match="not a file, folder, camera"):
        open_source("no-such-thing")
    with pytest.raises(InputError, match="file not found"):
        open_source(str(tmp_path / "gone.aedat4"))
    with pytest.raises(InputError, match="unknown file type .txt"):
        (tmp_path / "notes.txt").write_text("x")
        open_source(str(tmp_path / "notes.txt"))
    with pytest.raises(InputError, match="between 0.1 and 10"):
        open_source(str(LAB), speed=0.01)


def test_parse_host_port():
    assert parse_host_port("127.0.0.1:7777") == ("127.0.0.1", 7777)
    assert parse_host_port("tcp://dv-box.local:4040") == ("dv-box.local", 4040)
    assert parse_host_port("[::1]:7777") == ("::1", 7777)
    for bad in ("127.0.0.1", "host:0", "host:70000", "tcp://:80", "a b:1", "host:port"):
        with pytest.raises(InputError, match="expected HOST:PORT"):
            parse_host_port(bad)
