"""Damaged and truncated .aedat4 files: the events before the damage, then one line naming
the file and the byte where the first damaged packet starts.

dv-processing 2.0.4 freezes the whole process (GIL held, Ctrl+C included) on some damaged
packets, so every read of a damaged file runs in a child process with a timeout: a regression
fails here instead of hanging CI. The expected byte is worked out here from the clean file's
packet layout, independently of ``r2etl_core.io.dv.guard``.
"""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from r2etl_core.io.dv import read_all_events, to_event_store
from r2etl_core.io.dv.guard import scan_file
from r2etl_core.types import EventBatch
from scripts.synthetic_events import random_events

REPO_ROOT = Path(__file__).resolve().parents[1]
LAB = REPO_ROOT / "recordings" / "davis346-lab-frames.aedat4"  # events, frames, IMU, triggers
DEMO = REPO_ROOT / "recordings" / "nmnist-demo.aedat4"  # events only
CHILD_TIMEOUT_S = 120  # generous: a busy 2-core CI machine; a hang never ends at all
READERS = ("AedatReader", "read_all_events", "recording_info", "describe")

# Reads one file through every reader in a fresh process; prints what each gave as JSON.
CHILD = textwrap.dedent("""
    import gc, json, sys
    import numpy as np
    from r2etl_core.errors import InputError
    from r2etl_core.io.dv import AedatReader, read_all_events, recording_info
    from r2etl_core.io.fileinfo import describe  # what `r2etl info` runs

    path, events_out = sys.argv[1], sys.argv[2]
    result, got = {}, []

    def attempt(name, read):
        try:
            result[name] = {"ok": read()}
        except InputError as exc:
            result[name] = {"error": str(exc)}

    def batches():
        for batch in AedatReader(path).batches():
            got.append(batch)
        return sum(len(b) for b in got)

    attempt("AedatReader", batches)
    np.savez(events_out, **{k: np.concatenate([getattr(b, k) for b in got] or [np.zeros(0)]) for k in "txyp"})
    attempt("read_all_events", lambda: len(read_all_events(path)))
    attempt("recording_info", lambda: recording_info(path).event_count)
    attempt("describe", lambda: describe(path)["events"])
    gc.collect()
    print(json.dumps(result))
""")


# ---------------------------------------------------------------- the clean file's layout

@dataclass(frozen=True)
class Layout:
    packets: list[tuple[int, int, int]]  # (offset, stream id, payload size)
    event_streams: set[int]
    data_end: int  # where the packets end: the data table's position

    def damaged_packet(self, lo: int, hi: int) -> int | None:
        """Offset of the first packet whose checked bytes meet [lo, hi): all of an event
        packet; a packet header and the first/last 8 bytes of other streams' data (the guard
        checks their framing only: dv skips them when it reads events)."""
        for offset, stream, size in self.packets:
            end = offset + 8 + size
            checked = [(offset, end)] if stream in self.event_streams else [(offset, offset + 16), (end - 8, end)]
            if any(lo < b and a < hi for a, b in checked):
                return offset
        return self.data_end if hi > self.data_end else None

    def packet_at(self, byte: int) -> int:
        """Start of the packet holding ``byte`` (the data table's position past the packets)."""
        return next((o for o, _, s in self.packets if o <= byte < o + 8 + s), self.data_end)

    def event_packets_before(self, offset: int) -> int:
        return sum(1 for o, s, _ in self.packets if s in self.event_streams and o < offset)


def layout_of(path: Path) -> Layout:
    data = path.read_bytes()
    header_size = struct.unpack_from("<i", data, 14)[0]
    description = data[18:18 + header_size]
    root = ET.fromstring(description[description.index(b"<dv"):].split(b"\0")[0])
    out_info = next(n for n in root.iter("node") if n.get("name") == "outInfo")
    kinds = {int(n.get("name")): n.find("attr[@key='typeIdentifier']").text for n in out_info}
    packets, pos = [], 18 + header_size
    while pos + 8 <= len(data) and struct.unpack_from("<i", data, pos)[0] in kinds:  # then the table
        stream, size = struct.unpack_from("<ii", data, pos)
        packets.append((pos, stream, size))
        pos += 8 + size
    return Layout(packets, {k for k, v in kinds.items() if v == "EVTS"}, pos)


def events_per_packet(path: Path) -> list[int]:
    """dv's sequential read of a clean file hands out one event packet per call."""
    dv = pytest.importorskip("dv_processing")
    rec, counts = dv.io.MonoCameraRecording(str(path)), []
    while (store := rec.getNextEventBatch()) is not None:
        counts.append(len(store))
    return counts


# ---------------------------------------------------------------- running the readers

def read_in_child(path: Path, tmp_path: Path) -> tuple[dict, EventBatch]:
    """Every reader's result for ``path``, read in a child process that must finish in time."""
    events_out, temp = tmp_path / "events.npz", tmp_path / "tmp"
    temp.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(temp)}
    try:
        run = subprocess.run([sys.executable, "-c", CHILD, str(path), str(events_out)], capture_output=True,
                             text=True, timeout=CHILD_TIMEOUT_S, cwd=REPO_ROOT, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"reading {path.name} hung (no result in {CHILD_TIMEOUT_S} s)")
    assert run.returncode == 0, run.stderr[-3000:]
    assert list(temp.iterdir()) == [], "the readable copy of the damaged file was left behind"
    arrays = np.load(events_out)
    got = EventBatch(arrays["t"].astype(np.int64), arrays["x"].astype(np.int16), arrays["y"].astype(np.int16),
                     arrays["p"].astype(np.int8), 0, 0)
    return json.loads(run.stdout.strip().splitlines()[-1]), got


def assert_prefix(got: EventBatch, clean: EventBatch, count: int) -> None:
    assert len(got) == count, f"{len(got)} events read, {count} precede the damage"
    for name in "txyp":
        assert np.array_equal(getattr(got, name), getattr(clean, name)[:count]), name


def assert_damage_reported(results: dict, path: Path, offset: int) -> None:
    for reader in READERS:
        message = results[reader].get("error")
        assert message is not None, f"{reader} read {path.name} without an error: {results[reader]}"
        assert "\n" not in message and message.startswith(f"{path}: "), message
        assert f"byte {offset} " in message, f"{reader}: {message} (expected byte {offset})"


def check_damaged_copy(damaged: Path, clean: Path, offset: int | None, tmp_path: Path) -> None:
    results, got = read_in_child(damaged, tmp_path)
    full = read_all_events(clean)
    if offset is None:  # only bytes dv never decodes for events were hit
        assert all("ok" in results[r] for r in READERS), results
        assert_prefix(got, full, len(full))
        return
    assert_damage_reported(results, damaged, offset)
    layout = layout_of(clean)
    assert_prefix(got, full, sum(events_per_packet(clean)[:layout.event_packets_before(offset)]))


def flip(src: Path, dst: Path, frac: float, seed: int, n_bytes: int = 100) -> tuple[int, int]:
    """Overwrite ``n_bytes`` at ``frac`` of ``src`` with different random bytes; the range hit."""
    data, rng = bytearray(src.read_bytes()), random.Random(seed)
    lo = min(int(len(data) * frac), len(data) - n_bytes)
    for i in range(lo, lo + n_bytes):
        data[i] ^= rng.randrange(1, 256)
    dst.write_bytes(bytes(data))
    return lo, lo + n_bytes


# ---------------------------------------------------------------- the cases

@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("frac", [0.5, 0.75, 0.97])
@pytest.mark.parametrize("clean", [LAB, DEMO], ids=["lab-frames", "nmnist-demo"])
def test_damaged_copy_gives_the_events_before_the_damage(tmp_path, clean, frac, seed):
    damaged = tmp_path / f"damaged-{clean.name}"
    lo, hi = flip(clean, damaged, frac, seed)
    check_damaged_copy(damaged, clean, layout_of(clean).damaged_packet(lo, hi), tmp_path)


def cut_points(clean: Path) -> dict[str, int]:
    layout = layout_of(clean)
    return {"mid-packet": clean.stat().st_size // 2, "packet-boundary": layout.packets[len(layout.packets) // 3][0],
            "before-table": layout.data_end, "in-table": clean.stat().st_size - 10}


@pytest.mark.slow
@pytest.mark.parametrize("where", ["mid-packet", "packet-boundary", "before-table", "in-table"])
@pytest.mark.parametrize("clean", [LAB, DEMO], ids=["lab-frames", "nmnist-demo"])
def test_truncated_copy_gives_the_events_before_the_cut(tmp_path, clean, where):
    cut = cut_points(clean)[where]
    truncated = tmp_path / f"cut-{clean.name}"
    truncated.write_bytes(clean.read_bytes()[:cut])
    check_damaged_copy(truncated, clean, layout_of(clean).packet_at(cut), tmp_path)


@pytest.mark.parametrize("path", sorted((REPO_ROOT / "recordings").glob("*.aedat4")), ids=lambda p: p.stem)
def test_sound_recordings_pass_the_guard_whole(path):
    scan = scan_file(path)
    assert scan.damage is None and scan.good_end == layout_of(path).data_end


def test_shared_recordings_pass_the_guard_whole(shared_data):
    for path in sorted((shared_data / "recordings").glob("*.aedat4")):
        assert scan_file(path).damage is None, path.name


def write_with_dv(path: Path, batches: list[EventBatch], compression: str) -> Path:
    """A 64x48 recording written by dv itself, in any of its compressions (ours is LZ4)."""
    dv = pytest.importorskip("dv_processing")
    kind = getattr(dv.CompressionType, compression)
    writer = dv.io.MonoCameraWriter(str(path), dv.io.MonoCameraWriter.EventOnlyConfig("DVXplorer_test", (64, 48), kind))
    for batch in batches:
        writer.writeEvents(to_event_store(batch))
    del writer  # dv finishes the file in its destructor
    return path


@pytest.mark.parametrize("compression", ["NONE", "LZ4", "LZ4_HIGH", "ZSTD", "ZSTD_HIGH"])
def test_every_compression_dv_writes_is_checked(tmp_path, compression):
    events = random_events(12_000, 64, 48, duration_us=120_000, seed=5)
    packets = [events.select(slice(k, k + 3000)) for k in range(0, len(events), 3000)]
    clean = write_with_dv(tmp_path / "clean.aedat4", packets, compression)
    assert scan_file(clean).damage is None and len(read_all_events(clean)) == len(events)
    offset, _, size = layout_of(clean).packets[1]
    damaged = tmp_path / "damaged.aedat4"
    lo, hi = flip(clean, damaged, (offset + 8 + size // 2) / clean.stat().st_size, seed=3, n_bytes=32)
    assert layout_of(clean).damaged_packet(lo, hi) == offset
    check_damaged_copy(damaged, clean, offset, tmp_path)


def test_events_out_of_time_order_are_a_plain_error_not_an_index_error(tmp_path):
    # uncompressed, so one timestamp can be edited in place: the second packet's first event
    # goes back before the first packet's last (dv: "IndexError: Tried adding event store to
    # store out of order" from getEventsTimeRange)
    packets = []
    for k in range(3):
        t = np.arange(1000 * (k + 1), 1000 * (k + 2), 10, dtype=np.int64)
        ones = np.ones(len(t), np.int16)
        packets.append(EventBatch(t, 5 * ones, 6 * ones, ones.astype(np.int8), 64, 48))
    clean = write_with_dv(tmp_path / "clean.aedat4", packets, "NONE")
    damaged = tmp_path / "out-of-order.aedat4"
    data = bytearray(clean.read_bytes())
    struct.pack_into("<q", data, data.index(struct.pack("<q", 2000)), 500)
    damaged.write_bytes(bytes(data))
    second_packet = layout_of(clean).packets[1][0]
    results, got = read_in_child(damaged, tmp_path)
    assert_damage_reported(results, damaged, second_packet)
    assert "out of time order" in results["AedatReader"]["error"]
    assert_prefix(got, read_all_events(clean), 100)


def test_r2etl_info_on_a_damaged_copy_is_one_line_and_exit_2(tmp_path):
    damaged = tmp_path / "damaged.aedat4"
    lo, hi = flip(DEMO, damaged, 0.5, 1)
    offset = layout_of(DEMO).damaged_packet(lo, hi)
    cli = Path(sys.executable).with_name("r2etl")
    argv = [str(cli)] if cli.exists() else [sys.executable, "-m", "r2etl_core.cli.main"]
    try:
        run = subprocess.run([*argv, "info", str(damaged)], capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"r2etl info hung on {damaged.name}")
    assert run.returncode == 2, run.stderr[-3000:]
    assert len(run.stderr.strip().splitlines()) == 1 and f"{damaged}: " in run.stderr, run.stderr
    assert f"byte {offset} " in run.stderr, run.stderr
