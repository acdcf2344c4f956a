"""A DAVIS's own grey-level (APS) frames read from .aedat4 files (r2etl_core.io.aps_frames)."""

from __future__ import annotations

import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest

from r2etl_core.errors import InputError
from r2etl_core.io.aps_frames import CameraFrames, read_camera_frames
from r2etl_core.io.dv.guard import scan_file

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"
LAB = RECORDINGS / "davis346-lab-frames.aedat4"


def test_pinned_frames_of_the_shipped_davis_recordings():
    lab = read_camera_frames(LAB)
    assert lab.complete and lab.images.shape == (3, 260, 346) and lab.images.dtype == np.uint8
    assert lab.t_us.tolist() == [1633953690976518, 1633953691016518, 1633953691056518]
    assert 40 < lab.images[0].mean() < 60  # a real picture, not zeros
    trimmed = read_camera_frames(RECORDINGS / "davis346-trimmed.aedat4")
    assert len(trimmed) == 4 and trimmed.t_us[0] == 1589163147364965 and (trimmed.width, trimmed.height) == (346, 260)


def test_event_only_recording_has_no_frames():
    assert read_camera_frames(RECORDINGS / "nmnist-demo.aedat4") is None


def test_nearest_frame_in_time():
    frames = CameraFrames(np.array([100, 200, 400]), np.zeros((3, 2, 2), np.uint8))
    assert [frames.nearest(t) for t in (0, 149, 151, 299, 301, 10_000)] == [0, 0, 1, 1, 2, 2]
    assert CameraFrames(np.zeros(0, np.int64), np.zeros((0, 1, 1), np.uint8)).nearest(5) is None


def test_a_damaged_frame_packet_stops_reading_instead_of_freezing_dv(tmp_path, monkeypatch):
    """dv-processing 2.0.4 spins forever on this file's second frame: we must never let it."""
    scan = scan_file(LAB)
    frame_packets = sorted(o for o, (sid, _) in scan.packets.items() if scan.streams[sid].kind == "FRME")
    damaged = tmp_path / "damaged.aedat4"
    shutil.copy(LAB, damaged)
    data = bytearray(damaged.read_bytes())
    struct.pack_into("<I", data, frame_packets[1] + 8 + 7, 0x003FFFFF)  # an impossible LZ4 block size
    damaged.write_bytes(data)
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    frames = read_camera_frames(damaged)
    assert len(frames) == 1 and not frames.complete
    assert list(temp.iterdir()) == []  # the copy dv read is gone


def test_unreadable_input_is_one_line(tmp_path):
    bad = tmp_path / "bad.aedat4"
    bad.write_bytes(b"#!AER-DAT4.0\r\n" + b"\xff" * 64)
    with pytest.raises(InputError, match="bad.aedat4: truncated or corrupt"):
        read_camera_frames(bad)
    with pytest.raises(InputError, match="not found"):
        read_camera_frames(tmp_path / "missing.aedat4")
