"""Recorder: exact write-then-read, predictions as JSON lines, closing from other threads and
after the camera is lost, and never replacing a good file with a half-written one."""

from __future__ import annotations

import json
import threading

import pytest

from r2etl_core.io import dv as dvio
from r2etl_core.io.dv import readers as dv_readers
from r2etl_core.io.predictions import JsonlPredictionWriter
from r2etl_core.io.recorder import Recorder
from r2etl_core.stream.sources import open_source
from r2etl_core.types import EventBatch, Prediction, StageTimings
from scripts.synthetic_events import random_events

from helpers import assert_same_events


def prediction(i: int) -> Prediction:
    return Prediction(i, i * 10_000, (i + 1) * 10_000, 123, (0.25, 0.75), 1, "7", 0.75,
                      StageTimings(0.1, 0.2, 0.0, 3.5), i + 1, i == 0, 100.0 + i, 4.25)


def test_write_then_read_is_exact(tmp_path):
    ev = random_events(20_000, 346, 260, duration_us=500_000, t0_us=1633953690975950, seed=7)
    path = tmp_path / "take.aedat4"
    with Recorder(path, 346, 260, "DAVIS346_00000104") as rec:
        for i in range(0, len(ev), 3000):
            rec.write_events(ev.select(slice(i, i + 3000)))
        assert not path.exists()  # only the .part exists until close
    assert rec.closed and rec.events_written == 20_000 and rec.events_dropped == 0
    info = dvio.recording_info(path)
    assert (info.camera, info.width, info.height, info.event_count) == ("DAVIS346_00000104", 346, 260, 20_000)
    assert_same_events(dvio.read_all_events(path), ev)
    assert not rec.predictions_path.exists()  # no predictions, no file


def test_predictions_are_json_lines_beside_the_recording(tmp_path):
    rec = Recorder(tmp_path / "run.aedat4", 34, 34)
    rec.write_events(random_events(100))
    for i in range(3):
        rec.write_prediction(prediction(i))
    assert rec.predictions_path == tmp_path / "run.predictions.jsonl"
    assert len(rec.predictions_path.read_text().splitlines()) == 3  # flushed as written
    rec.close()
    rec.close()  # idempotent
    rec.write_prediction(prediction(9))  # after close: ignored
    rec.write_events(random_events(10, t0_us=10**9))
    lines = [json.loads(line) for line in rec.predictions_path.read_text().splitlines()]
    assert lines == [prediction(i).to_json() for i in range(3)]
    assert len(dvio.read_all_events(tmp_path / "run.aedat4")) == 100


def test_recording_and_classify_write_the_same_prediction_lines(tmp_path):
    rec = Recorder(tmp_path / "run.aedat4", 34, 34)
    classify_out = JsonlPredictionWriter(tmp_path / "out.jsonl")
    for i in range(3):
        rec.write_prediction(prediction(i))
        classify_out.on_prediction(prediction(i), None)
    rec.close()
    classify_out.commit()
    assert rec.predictions_path.read_bytes() == (tmp_path / "out.jsonl").read_bytes()
    assert b'"index": 0, ' in rec.predictions_path.read_bytes()  # json.dumps' default separators


def test_good_file_is_kept_until_the_new_one_is_complete(tmp_path):
    path = tmp_path / "take.aedat4"
    old = random_events(500, 34, 34, seed=1)
    with Recorder(path, 34, 34) as rec:
        rec.write_events(old)
    rec2 = Recorder(path, 34, 34)
    rec2.write_events(random_events(800, 34, 34, seed=2))
    assert_same_events(dvio.read_all_events(path), old)
    rec2.close()
    assert len(dvio.read_all_events(path)) == 800
    assert not (tmp_path / "take.part.aedat4").exists()


from fake_camera import Descriptor, FakeDevice  # noqa: E402


def test_recording_is_complete_after_the_camera_is_lost(tmp_path, monkeypatch):
    packets = [random_events(1500, 640, 480, duration_us=10_000, t0_us=i * 10_000, seed=i) for i in range(6)]
    monkeypatch.setattr(dv_readers, "_discover_devices", lambda: [Descriptor()])
    monkeypatch.setattr(dv_readers, "_open_device", lambda serial: FakeDevice(packets, "DVXplorer_DXA00042"))
    source = open_source("camera")
    rec = Recorder(tmp_path / "live.aedat4", source.info.width, source.info.height, source.info.camera)
    done = threading.Event()

    def source_thread():
        for batch in source.batches():
            rec.write_events(batch)
        done.set()  # the camera was lost: the stream ended

    worker = threading.Thread(target=source_thread)
    worker.start()
    assert done.wait(10)
    rec.close()  # e.g. the GUI reacting to the lost camera
    worker.join(5)
    assert source.end_reason is not None and "disconnected" in source.end_reason
    got = dvio.read_all_events(tmp_path / "live.aedat4")
    assert dvio.recording_info(tmp_path / "live.aedat4").camera == "DVXplorer_DXA00042"
    assert_same_events(got, EventBatch.concat(packets, 640, 480))


def test_close_while_another_thread_writes(tmp_path):
    rec = Recorder(tmp_path / "race.aedat4", 34, 34)
    batches = [random_events(300, 34, 34, duration_us=1000, t0_us=i * 1000, seed=i) for i in range(400)]
    started = threading.Event()

    def writer():
        for batch in batches:
            rec.write_events(batch)
            started.set()

    worker = threading.Thread(target=writer)
    worker.start()
    assert started.wait(5)
    rec.close()
    worker.join(10)
    got = dvio.read_all_events(tmp_path / "race.aedat4")
    assert len(got) == rec.events_written > 0
    assert_same_events(got, EventBatch.concat(batches, 34, 34).select(slice(0, len(got))))


def test_bad_paths(tmp_path):
    from r2etl_core.errors import InputError

    with pytest.raises(InputError, match=r"must be named \*\.aedat4"):
        Recorder(tmp_path / "x.dat", 34, 34)
    with pytest.raises(InputError, match="does not exist"):
        Recorder(tmp_path / "no" / "x.aedat4", 34, 34)
