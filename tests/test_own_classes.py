"""Teaching it your own classes: labelled .aedat4 recordings and an image folder as a training
set (tiny synthetic data; the real-data walk-through is tests/test_own_classes_tutorial.py)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from r2etl_core.cli import main as cli
from r2etl_core.errors import InputError
from r2etl_core.io.dv import AedatReader
from r2etl_core.io.labels import LabelSegment, read_labels, write_labels
from r2etl_core.io.modelfile import DEFAULT_MODEL_PATH, read_meta
from r2etl_core.stream.slicing import StreamSlicer, bin_to_device
from r2etl_core.train.datasets.recordings import scan_recordings, split_by_recording
from scripts.standin import write_recording
from r2etl_core.train.datasets.windows import WindowParams, load_windows, window_starts
from r2etl_core.types import EventBatch, FrameSpec, SliceByTime
from scripts.synthetic_sets import write_image_folder, write_labelled_recordings

CLASSES = ("left", "middle", "right")
TINY = ["--set", "data.time_steps=4", "--set", "data.augment_shift=1", "--set", "model.width=0.0625",
        "--set", "run.threads=1", "--batch-size", "8", "--lr", "5e-3", "--set", 'optim.scheduler="none"']


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    root = tmp_path_factory.mktemp("own")
    return (write_labelled_recordings(root / "clips", per_class=4, class_names=CLASSES, per_recording=3),
            write_image_folder(root / "pictures", per_class=12, class_names=CLASSES))


def random_recording(path: Path, width: int, height: int, segments: list[LabelSegment], n: int = 20_000,
                     seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(1_000_000, 2_000_000, n)).astype(np.int64)
    events = EventBatch(t, rng.integers(0, width, n).astype(np.int16), rng.integers(0, height, n).astype(np.int16),
                        rng.integers(0, 2, n).astype(np.int8), width, height)
    return write_recording(path, events, segments)


def test_training_windows_are_the_frames_the_live_engine_bins(tmp_path):
    """Same grid, same centred ROI, same resize, ON in channel 0: a window's frames equal the
    slices the engine's slicer and binner make of the same recording (a 46x40 sensor -> 34)."""
    rec = random_recording(tmp_path / "a.aedat4", 46, 40, [LabelSegment(1_012_345, 1_500_000, "x"),
                                                           LabelSegment(1_600_000, 1_990_000, "y")])
    params = WindowParams(time_steps=5, slice_us=30_000, stride_slices=2, out_size=34)
    windows = load_windows(scan_recordings(tmp_path), params, cache_dir=None)
    reader = AedatReader(rec)
    slicer, engine = StreamSlicer(SliceByTime(30_000)), {}
    for batch in [*reader.batches(), None]:
        for sl in slicer.push(batch) if batch is not None else slicer.flush():
            engine[sl.t_start_us] = bin_to_device([sl], FrameSpec.centred(46, 40, 34), torch.device("cpu"))[0][0]
    reader.close()
    # 16 grid slices in the first segment -> 6 windows, 12 in the second -> 4
    assert windows.frames.shape == (10, 5, 2, 34, 34) and list(windows.labels) == [0] * 6 + [1] * 4
    for path, frames in zip(windows.paths, windows.frames):
        start = int(path.rsplit("@", 1)[1])
        assert start % 30_000 == 0
        expected = torch.stack([engine[start + k * 30_000] for k in range(5)]).numpy()
        np.testing.assert_array_equal(frames.astype(np.float32), expected)
    assert windows.frames[..., 0, :, :].sum() > 0 and windows.frames[..., 1, :, :].sum() > 0


def test_windows_lie_inside_their_segment_on_the_slice_grid():
    params = WindowParams(time_steps=4, slice_us=10, stride_slices=3, out_size=8)
    assert window_starts(LabelSegment(5, 95, "a"), params) == [10, 40]  # slices 10..90: 8 of them
    assert window_starts(LabelSegment(10, 50, "a"), params) == [10]
    assert window_starts(LabelSegment(11, 50, "a"), params) == []


def test_split_holds_out_whole_recordings_never_a_class_last_one(own):
    recordings = scan_recordings(own[0])
    train, val = split_by_recording(recordings, every=3)
    assert set(train).isdisjoint(val) and len(train) + len(val) == len(recordings.recordings) == 4
    for name in CLASSES:
        assert any(name in r.labels for r in recordings.recordings if r.rel in train)


def test_own_classes_train_eval_and_init_from_the_cli(own, tmp_path, capsys):
    clips, pictures = own
    out = tmp_path / "run"
    args = ["train", "--data", f"aedat4:{clips}", "--images", f"imagefolder:{pictures}", "--steps", "8",
            "--out", str(out), "--no-progress", "--set", f'data.cache_dir="{tmp_path / "cache"}"', *TINY]
    assert cli.main(args) == 0
    meta = read_meta(out / "best.safetensors")
    assert meta.class_names == CLASSES and meta.slicing.sensor_width == 34
    assert meta.training["data"]["events"] == "aedat4" and meta.normalisation["images"]["kind"] == "imagefolder"
    holdout = meta.training["holdout"]
    assert holdout and all(h.endswith(".aedat4") for h in holdout)  # whole recordings
    assert {p.name for p in (out).iterdir()} >= {"best.safetensors", "last.safetensors", "curves.png",
                                                  "confusion.png", "metrics.csv"}
    assert list((tmp_path / "cache").glob("windows-*.npy"))
    capsys.readouterr()
    assert cli.main(["eval", "--data", f"aedat4:{clips}", "--model", str(out / "best.safetensors"),
                     "--split", "val", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n"] == meta.metrics["val_n"] and result["accuracy"] == meta.metrics["val_accuracy"]

    # --init without --config: T, width and input size come from the model file
    tuned = tmp_path / "tuned"
    assert cli.main(["train", "--data", f"aedat4:{clips}", "--init", str(out / "best.safetensors"), "--steps", "2",
                     "--mode", "events-only", "--out", str(tuned), "--no-progress", "--batch-size", "8",
                     "--set", "run.threads=1", "--set", f'data.cache_dir="{tmp_path / "cache"}"']) == 0
    tuned_meta = read_meta(tuned / "best.safetensors")
    assert (tuned_meta.config.time_steps, tuned_meta.config.width) == (4, 0.0625)
    assert tuned_meta.training["reused"] == "all"


def error_of(capsys, *argv: str) -> str:
    assert cli.main(list(argv)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    return err


def copy_clips(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_bad_recordings_and_image_folders_are_one_line_naming_the_file(own, tmp_path, capsys):
    clips, pictures = own
    base = ["train", "--steps", "1", "--out", str(tmp_path / "o"), "--no-progress", *TINY,
            "--set", 'data.cache_dir=""', "--mode", "events-only"]

    unlabelled = copy_clips(clips, tmp_path / "unlabelled")
    (unlabelled / "rec-001.labels.csv").unlink()
    assert "rec-001.aedat4: no labels sidecar rec-001.labels.csv" in error_of(capsys, *base, "--data",
                                                                                f"aedat4:{unlabelled}")
    (unlabelled / "aaa.part.aedat4").write_bytes((unlabelled / "rec-001.aedat4").read_bytes())
    assert "aaa.part.aedat4: an unfinished recording" in error_of(capsys, *base, "--data", f"aedat4:{unlabelled}")
    short = copy_clips(clips, tmp_path / "short")
    first = read_labels(short / "rec-000.labels.csv")[0]
    write_labels(short / "rec-000.labels.csv", [LabelSegment(first.start_us, first.start_us + 100_000, "left")])
    assert "shorter than one window" in error_of(capsys, *base, "--data", f"aedat4:{short}")

    overlap = copy_clips(clips, tmp_path / "overlap")
    (overlap / "rec-000.labels.csv").write_text(f"start_us,end_us,label\n{first.start_us},{first.start_us + 900_000},"
                                                f"left\n{first.start_us + 400_000},{first.start_us + 950_000},right\n")
    assert "rec-000.labels.csv: segments overlap" in error_of(capsys, *base, "--data", f"aedat4:{overlap}")

    (overlap / "rec-000.labels.csv").write_text(f"start_us,end_us,label\n{first.end_us},{first.start_us},left\n")
    assert "rec-000.labels.csv: line 2: end_us" in error_of(capsys, *base, "--data", f"aedat4:{overlap}")
    assert "--images: mode r2etl trains on images" in error_of(capsys, *base, "--mode", "r2etl", "--data",
                                                               f"aedat4:{clips}")

    relative = copy_clips(clips, tmp_path / "relative")
    write_labels(relative / "rec-002.labels.csv", [LabelSegment(0, 500_000, "left")])
    assert "absolute event timestamps" in error_of(capsys, *base, "--data", f"aedat4:{relative}")

    mixed = copy_clips(clips, tmp_path / "mixed")
    random_recording(mixed / "davis.aedat4", 346, 260, [LabelSegment(1_100_000, 1_900_000, "left")])
    assert "rec-000.aedat4: sensor 34x34, but davis.aedat4 is 346x260" in error_of(capsys, *base, "--data",
                                                                                     f"aedat4:{mixed}")
    cased = copy_clips(clips, tmp_path / "cased")
    last = read_labels(cased / "rec-003.labels.csv")[0]
    write_labels(cased / "rec-003.labels.csv", [LabelSegment(last.start_us, last.end_us, last.label.upper())])
    err = error_of(capsys, *base, "--data", f"aedat4:{cased}")
    assert f"rec-003.labels.csv: label '{last.label.upper()}' differs only in case from '{last.label}'" in err

    with_images = [*base, "--mode", "r2etl", "--data", f"aedat4:{clips}", "--images"]
    two = tmp_path / "two"
    write_image_folder(two, per_class=2, class_names=("left", "middle"))
    assert "event classes without images: ['right']" in error_of(capsys, *with_images, f"imagefolder:{two}")
    (two / "right").mkdir()
    assert "class folder 'right' holds no" in error_of(capsys, *with_images, f"imagefolder:{two}")
    (two / "right" / "broken.png").write_bytes(b"not a png")
    assert "broken.png: OpenCV cannot read this image" in error_of(capsys, *with_images, f"imagefolder:{two}")
    (two / "right" / "broken.png").unlink()
    write_image_folder(two, per_class=1, class_names=("right", "Right"))
    assert "differ only in case" in error_of(capsys, *with_images, f"imagefolder:{two}")
    assert "--data" in error_of(capsys, *base, "--data", "clips")  # no KIND:


def test_eval_names_a_label_the_model_does_not_know(own, tmp_path, capsys):
    clips, _ = own
    other = copy_clips(clips, tmp_path / "other")
    first = read_labels(other / "rec-000.labels.csv")[0]
    write_labels(other / "rec-000.labels.csv", [LabelSegment(first.start_us, first.end_us, "wave")])
    err = error_of(capsys, "eval", "--data", f"aedat4:{other}")  # the shipped digits model
    assert "rec-000.labels.csv: label 'wave' is not a class of the model" in err


def test_a_config_cannot_split_recordings_window_by_window(own):
    from r2etl_core.train.config_file import config_from_dict

    with pytest.raises(InputError, match="never split window by window"):
        config_from_dict({"data": {"events": "aedat4", "split": "every-nth"}})
    with pytest.raises(InputError, match="data.roi"):
        config_from_dict({"data": {"events": "aedat4", "split": "by-recording", "roi": "1,2"}})


def test_one_recording_cannot_be_split_and_relabelling_rebuilds_the_cache(tmp_path):
    clips = write_labelled_recordings(tmp_path / "one", per_class=1, class_names=CLASSES, per_recording=3)
    recordings = scan_recordings(clips)
    with pytest.raises(InputError, match="cannot hold out a whole recording"):
        split_by_recording(recordings, every=5)
    params = WindowParams(time_steps=4, slice_us=30_000, stride_slices=2, out_size=34)
    before = load_windows(recordings, params, tmp_path / "cache")
    segments = read_labels(clips / "rec-000.labels.csv")
    write_labels(clips / "rec-000.labels.csv", segments[1:])  # one clip fewer
    after = load_windows(scan_recordings(clips), params, tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("windows-*.npy"))) == 2 and len(after) < len(before)


def test_own_classes_learn_unknown_from_none_stretches_and_a_negatives_folder(tmp_path, capsys):
    """Stretches labelled "none" are no class; with --negatives they and a folder of other
    recordings calibrate "unknown", and the run's model files carry the detector."""
    clips = write_labelled_recordings(tmp_path / "clips", per_class=3, class_names=CLASSES[:2], per_recording=2)
    first = sorted(clips.glob("*.labels.csv"))[0]
    segs = read_labels(first)
    write_labels(first, [*segs[:-1], LabelSegment(segs[-1].start_us, segs[-1].end_us, "none")])
    others = tmp_path / "others"
    others.mkdir()
    random_recording(others / "noise.aedat4", 34, 34, [LabelSegment(1_000_000, 2_000_000, "x")], n=60_000)
    out = tmp_path / "run"
    assert cli.main(["train", "--data", f"aedat4:{clips}", "--mode", "events-only", "--steps", "2",
                     "--init", str(DEFAULT_MODEL_PATH), "--negatives", str(others), "--out", str(out),
                     "--no-progress", "--batch-size", "4", "--set", "run.threads=1",
                     "--set", "data.window_stride_slices=1"]) == 0
    assert "'unknown' above distance" in capsys.readouterr().out
    for name in ("best.safetensors", "last.safetensors"):
        meta = read_meta(out / name)
        assert meta.class_names == CLASSES[:2]  # "none" is not a class
        calibration = meta.unknown["calibration"]
        assert calibration["negative_slices"] > 0 and calibration["class_slices"] > 0
        assert meta.unknown_detector().threshold > 0
    assert cli.main(["calibrate", str(out / "best.safetensors"), "--out", str(tmp_path / "c.safetensors"),
                     "--quantile", "0.9"]) == 0
    assert read_meta(tmp_path / "c.safetensors").unknown["calibration"]["quantile"] == 0.9
    assert cli.main(["calibrate", str(out / "best.safetensors"), "--quantile", "2"]) == 2
