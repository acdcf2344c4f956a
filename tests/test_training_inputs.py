"""Labelled-recording training sets as a busy lab makes them: a label running far past the last
event (to 2**63-1) is clipped to the events and reported, a symlink loop in the clips folder
reads each recording once, and --val-fold picks other held-out recordings."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import torch

from r2etl_core.errors import R2ETLWarning
from r2etl_core.io.labels import LabelSegment
from r2etl_core.train.datasets.recordings import find_recordings, scan_recordings, split_by_recording
from r2etl_core.train.datasets.windows import WindowParams, load_windows
from r2etl_core.types import EventBatch
from scripts.standin import write_recording

T0, T1 = 1_000_000, 2_000_000  # the events of every test recording


def recording(path, segments, seed=0):
    rng = np.random.default_rng(seed)
    n = 5000
    t = np.sort(rng.integers(T0, T1, n)).astype(np.int64)
    events = EventBatch(t, rng.integers(0, 34, n).astype(np.int16), rng.integers(0, 34, n).astype(np.int16),
                        rng.integers(0, 2, n).astype(np.int8), 34, 34)
    return write_recording(path, events, segments)


PARAMS = WindowParams(time_steps=4, slice_us=50_000, stride_slices=4, out_size=16)


@pytest.mark.parametrize("end_us", [2**63 - 1, T1 + 1_000 * 10**6], ids=["int64-max", "1000-s-past"])
def test_a_label_past_the_last_event_is_clipped_and_reported(tmp_path, end_us):
    recording(tmp_path / "a.aedat4", [LabelSegment(T0, 1_400_000, "x"), LabelSegment(1_400_000, end_us, "y")])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recordings = scan_recordings(tmp_path)
    notes = [str(w.message) for w in caught if issubclass(w.category, R2ETLWarning)]
    assert len(notes) == 1 and "a.labels.csv: segment 'y'" in notes[0] and "mostly outside" in notes[0]
    y = recordings.recordings[0].segments[1]
    assert (y.start_us, y.label) == (1_400_000, "y") and y.end_us <= T1 + 1
    windows = load_windows(recordings, PARAMS, cache_dir=None)
    # x: 7 grid slices after its first event -> 1 window; y: 11 up to the last event -> 2 (unclipped: millions)
    assert len(windows) == 1 + 2


def test_the_cli_shows_r2etl_warnings_as_one_line(monkeypatch, capsys):
    from r2etl_core.cli.main import show_warnings_as_lines

    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)  # restored afterwards
    show_warnings_as_lines("train")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn(R2ETLWarning("a.labels.csv: segment 'y'\nlies mostly outside"))
        warnings.warn("someone else's", DeprecationWarning)
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "r2etl train: warning: a.labels.csv: segment 'y' lies mostly outside"
    assert not any("someone else's" in line for line in err if line.startswith("r2etl"))


def test_a_symlink_loop_reads_each_recording_once(tmp_path):
    for k in range(3):
        recording(tmp_path / f"{k}.aedat4", [LabelSegment(T0, T1, "x")], k)
    (tmp_path / "sub").mkdir()
    recording(tmp_path / "sub" / "s.aedat4", [LabelSegment(T0, T1, "x")], 9)
    os.symlink(".", tmp_path / "again")  # the loop
    os.symlink("..", tmp_path / "sub" / "up")
    os.symlink(tmp_path / "0.aedat4", tmp_path / "sub" / "copy-of-0.aedat4")  # a training clip again
    found = find_recordings(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["0.aedat4", "1.aedat4", "2.aedat4", "sub/s.aedat4"]


def test_an_nmnist_folder_with_a_link_loop_lists_each_sample_once(tmp_path):
    from r2etl_core.io.nmnist import find_nmnist_samples, write_bin
    from scripts.synthetic_events import random_events

    (tmp_path / "3").mkdir()
    for name in ("00001.bin", "00002.bin"):
        write_bin(tmp_path / "3" / name, random_events(50, seed=1))
    os.symlink(".", tmp_path / "3" / "again")
    os.symlink("3", tmp_path / "three")
    assert [(f.name, label) for f, label in find_nmnist_samples(tmp_path)] == [("00001.bin", "3"), ("00002.bin", "3")]


def test_val_fold_holds_out_other_recordings(tmp_path):
    for k in range(10):
        recording(tmp_path / f"{k:02d}.aedat4", [LabelSegment(T0, 1_500_000, "x"), LabelSegment(1_500_000, T1, "y")], k)
    recordings = scan_recordings(tmp_path)
    folds = [set(split_by_recording(recordings, 5, fold)[1]) for fold in range(5)]
    assert folds[0] == {"00.aedat4", "05.aedat4"} and folds[3] == {"03.aedat4", "08.aedat4"}
    assert all(a.isdisjoint(b) for i, a in enumerate(folds) for b in folds[i + 1:])


def write_image_folder_with(tmp_path, name: str, data: bytes):
    import cv2

    root = tmp_path / "pictures"
    for cls in ("x", "y"):
        (root / cls).mkdir(parents=True)
        cv2.imwrite(str(root / cls / "ok.png"), np.full((20, 20, 3), 100, np.uint8))
    (root / "y" / name).write_bytes(data)
    return root


def huge_png() -> bytes:
    """A valid PNG signature and IHDR saying 65535 x 65535 (the rest is not needed to refuse it)."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 65535, 65535, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk + bytes(100)


def cut_jpeg() -> bytes:
    import cv2

    ok, data = cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    return data.tobytes()[:-200]


@pytest.mark.parametrize("name,data,problem", [
    ("huge.png", huge_png(), "the image header says 65535x65535 pixels"),
    ("cut.jpg", cut_jpeg(), "truncated JPEG"),
], ids=["65535-square-png", "truncated-jpeg"])
def test_an_image_folder_refuses_oversize_headers_and_cut_jpegs(tmp_path, name, data, problem):
    from r2etl_core.errors import InputError
    from r2etl_core.train.datasets.images import read_image_folder

    root = write_image_folder_with(tmp_path, name, data)
    with pytest.raises(InputError) as err:
        read_image_folder(root, 16)
    assert str(err.value).startswith(str(root / "y" / name)) and problem in str(err.value)


def test_an_image_folder_of_good_images_reads(tmp_path):
    import cv2

    from r2etl_core.train.datasets.images import read_image_folder

    ok, good = cv2.imencode(".jpg", np.full((30, 40, 3), 7, np.uint8))
    images = read_image_folder(write_image_folder_with(tmp_path, "good.jpg", good.tobytes()), 16)
    assert images.images.shape == (3, 16, 16, 3)


class DataWasRead(Exception):
    pass


def init_model(tmp_path, **config):
    from r2etl_core.io.modelfile import save_model
    from r2etl_core.nn.meta import ModelMeta
    from r2etl_core.nn.model import ModelConfig, build_model

    model = build_model(ModelConfig(width=0.0625, **config))
    return save_model(model, ModelMeta(model.config, tuple(str(i) for i in range(10))), tmp_path / "init.safetensors")


def run_config(tmp_path, init, **data):
    from r2etl_core.train.config_file import config_from_dict

    return config_from_dict({"data": {"events_dir": str(tmp_path), "time_steps": 4, **data},
                             "model": {"width": 0.0625, "init": str(init)},
                             "run": {"out_dir": str(tmp_path / "run"), "progress": False}})


def test_an_init_model_that_does_not_fit_fails_before_the_data_is_read(tmp_path, monkeypatch):
    from r2etl_core.errors import ModelError
    from r2etl_core.train import run

    def read_data(*a, **k):
        raise DataWasRead
    monkeypatch.setattr(run, "build_train_data", read_data)
    init = init_model(tmp_path, input_size=64, time_steps=4)
    with pytest.raises(ModelError, match="init.safetensors: --init model has input size 64, this run 34"):
        run.train(run_config(tmp_path, init))
    init = init_model(tmp_path, time_steps=10)  # fits; another step count is said, then data is read
    with warnings.catch_warnings(record=True) as caught, pytest.raises(DataWasRead):
        warnings.simplefilter("always")
        run.train(run_config(tmp_path, init))
    notes = [str(w.message) for w in caught if issubclass(w.category, R2ETLWarning)]
    assert len(notes) == 1 and "trained on 10 steps" in notes[0] and "this run uses 4" in notes[0]


def test_frames_that_would_not_fit_in_memory_are_refused_up_front(tmp_path, monkeypatch):
    from r2etl_core import limits
    from r2etl_core.errors import InputError

    recording(tmp_path / "a.aedat4", [LabelSegment(T0, T1, "x")])
    monkeypatch.setattr(limits, "physical_memory_bytes", lambda: 16 * 1024)  # 32 KiB of frames do not fit
    with pytest.raises(InputError, match=r"data.input_size: 4 training windows .* at 16x16 pixels need"):
        load_windows(scan_recordings(tmp_path), PARAMS, cache_dir=None)


def test_with_a_cache_the_frames_go_to_disk_and_memory_is_bounded_by_the_batch(tmp_path, monkeypatch):
    """The same too-big-for-memory set trains from a frame cache: written a recording at a time
    into an on-disk array and read back memory-mapped, so only the batches are in memory."""
    from r2etl_core import limits
    from r2etl_core.train.datasets.pairing import EventDataset

    recording(tmp_path / "a.aedat4", [LabelSegment(T0, T1, "x")])
    in_memory = load_windows(scan_recordings(tmp_path), PARAMS, cache_dir=None)
    monkeypatch.setattr(limits, "physical_memory_bytes", lambda: 16 * 1024)
    cached = load_windows(scan_recordings(tmp_path), PARAMS, cache_dir=tmp_path / "cache")
    assert isinstance(cached.frames, np.memmap) and not cached.frames.flags.writeable
    np.testing.assert_array_equal(np.asarray(cached.frames), in_memory.frames)
    frames, label = EventDataset(cached.frames, cached.labels)[1]
    assert frames.dtype == torch.float32 and np.array_equal(frames.numpy(), in_memory.frames[1])
    again = load_windows(scan_recordings(tmp_path), PARAMS, cache_dir=tmp_path / "cache")  # the cache itself
    assert isinstance(again.frames, np.memmap) and len(list((tmp_path / "cache").iterdir())) == 1


def test_resume_without_a_checkpoint_and_a_single_class_are_said(tmp_path, monkeypatch):
    from r2etl_core.train import run
    from r2etl_core.train.config_file import config_from_dict

    class OneClass:
        class_names = ("x",)
        train = range(64)  # training samples (the batch and step budget are sized from them)

    def stop(*a, **k):
        raise DataWasRead
    monkeypatch.setattr(run, "build_train_data", lambda *a, **k: OneClass())
    monkeypatch.setattr(run, "build_model", stop)  # what comes after the data: not needed here
    cfg = config_from_dict({"data": {"events_dir": str(tmp_path)},
                            "run": {"out_dir": str(tmp_path / "run"), "resume": True, "progress": False}})
    with warnings.catch_warnings(record=True) as caught, pytest.raises(DataWasRead):
        warnings.simplefilter("always")
        run.train(cfg)
    notes = [str(w.message) for w in caught if issubclass(w.category, R2ETLWarning)]
    assert len(notes) == 2
    assert notes[0].startswith("--resume: no checkpoint") and "starts at step 0" in notes[0]
    assert notes[1].startswith("only one class ('x')") and "means nothing" in notes[1]


def test_a_segment_mostly_without_events_is_reported(tmp_path):
    """Events for the first 100 ms and the last 100 ms only: a label over the whole second lies
    inside the recording's events (nothing to clip) but most of its windows are empty."""
    rng = np.random.default_rng(0)
    t = np.sort(np.concatenate([rng.integers(T0, T0 + 100_000, 2000), rng.integers(T1 - 100_000, T1, 2000)]))
    n = len(t)
    events = EventBatch(t.astype(np.int64), rng.integers(0, 34, n).astype(np.int16),
                        rng.integers(0, 34, n).astype(np.int16), rng.integers(0, 2, n).astype(np.int8), 34, 34)
    write_recording(tmp_path / "quiet.aedat4", events, [LabelSegment(T0, T1, "x")])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_windows(scan_recordings(tmp_path), PARAMS, cache_dir=None)
    notes = [str(w.message) for w in caught if issubclass(w.category, R2ETLWarning)]
    assert len(notes) == 1 and "quiet.labels.csv: segment 'x'" in notes[0] and "is mostly empty" in notes[0]


def test_a_well_filled_segment_is_not_reported(tmp_path):
    recording(tmp_path / "a.aedat4", [LabelSegment(T0, T1, "x")])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_windows(scan_recordings(tmp_path), PARAMS, cache_dir=None)
    assert not [w for w in caught if issubclass(w.category, R2ETLWarning)]
