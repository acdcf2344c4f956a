"""A lab's own classes from a few seconds each: held out by time when recordings are too few,
a window every slice and a smaller batch when windows are few, and no flag needed."""

from __future__ import annotations

import json

import pytest

from r2etl_core.cli import main as cli
from r2etl_core.errors import InputError
from r2etl_core.io.labels import LabelSegment
from r2etl_core.io.modelfile import read_meta
from r2etl_core.train.datasets.recordings import RecordingSet, scan_recordings
from r2etl_core.train.datasets.small_data import (FEW_WINDOWS, auto_batch, auto_steps, auto_stride,
                                                  split_by_time)
from r2etl_core.train.datasets.windows import WindowParams, window_starts
from scripts.synthetic_sets import write_labelled_recordings

CLASSES = ("left", "middle", "right")
PARAMS = WindowParams(time_steps=4, slice_us=10_000, stride_slices=1, out_size=34)


def one_recording(tmp_path, clips_per_class: int = 3):
    """Every class in ONE recording: no whole recording can be held out."""
    return write_labelled_recordings(tmp_path / "clips", per_class=clips_per_class, class_names=CLASSES,
                                     per_recording=clips_per_class * len(CLASSES))


def test_time_split_holds_out_the_end_of_every_segment(tmp_path):
    recordings = scan_recordings(one_recording(tmp_path))
    assert len(recordings.recordings) == 1
    train, val = split_by_time(recordings, PARAMS)
    for tr, va in zip(train.recordings, val.recordings):
        for a, b in zip(tr.segments, va.segments):
            assert a.label == b.label and a.end_us == b.start_us  # the cut: nothing shared
            assert window_starts(b, PARAMS)  # at least one whole validation window
            assert (b.end_us - b.start_us) <= 0.5 * (b.end_us - a.start_us)
    assert {s.label for r in val.recordings for s in r.segments} == set(CLASSES)


def test_too_short_to_hold_anything_out_is_one_line(tmp_path):
    recordings = scan_recordings(one_recording(tmp_path))
    rec = recordings.recordings[0]
    short = tuple(LabelSegment(s.start_us, s.start_us + 60_000, s.label) for s in rec.segments)
    tiny = RecordingSet(recordings.root, (type(rec)(rec.path, rec.rel, rec.sidecar, short, rec.width, rec.height),),
                        recordings.class_names, recordings.sensor)
    with pytest.raises(InputError, match="too little labelled material"):
        split_by_time(tiny, PARAMS)


def test_sizes_follow_the_amount_of_data(tmp_path):
    assert auto_batch(46) == 8 and auto_batch(23) == 4 and auto_batch(10_000) == 16 and auto_batch(3) == 2
    assert auto_steps(46, 8) == 150 and auto_steps(10_000, 16) == 300
    recordings = scan_recordings(one_recording(tmp_path))
    assert auto_stride(recordings, PARAMS) == 1  # a few seconds: far fewer than FEW_WINDOWS windows
    assert FEW_WINDOWS > 0


def test_no_flag_needed_on_one_short_recording(tmp_path, capsys):
    from app_fixtures import make_model_file

    clips = one_recording(tmp_path)
    init = make_model_file(tmp_path / "init.safetensors")
    out = tmp_path / "run"
    assert cli.main(["train", "--data", f"aedat4:{clips}", "--init", str(init), "--out", str(out), "--no-progress",
                     "--steps", "3"]) == 0  # --steps only to keep the test short: the rest is chosen
    err = capsys.readouterr().err
    assert "training on the events alone" in err
    meta = read_meta(out / "best.safetensors")
    assert meta.training["held_out"] == "by-time" and meta.training["mode"] == "events-only"
    config = meta.training["config"]
    assert config["data"]["window_stride_slices"] == 0 and config["optim"]["batch_size"] in (2, 4, 8, 16)
    assert set(meta.metrics["val_per_class"]) == set(CLASSES)
    capsys.readouterr()
    assert cli.main(["eval", "--data", f"aedat4:{clips}", "--model", str(out / "best.safetensors"), "--split", "val",
                     "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n"] == meta.metrics["val_n"]  # eval holds out the same stretches training did
