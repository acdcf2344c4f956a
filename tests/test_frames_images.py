"""A DAVIS's APS frames as R2ETL's image side (``--images aedat4-frames:DIR``): labelled by
segment, cut like the events, held out with their recording, paired with their moment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from r2etl_core.cli import main as cli
from r2etl_core.errors import InputError
from r2etl_core.io.aps_frames import CameraFrames, write_recording_with_frames
from r2etl_core.io.dv import AedatWriter
from r2etl_core.io.labels import LabelSegment, write_labels
from r2etl_core.io.modelfile import read_meta
from r2etl_core.train.config import DataConfig
from r2etl_core.train.config_file import load_config
from r2etl_core.train.data import build_train_data
from r2etl_core.train.datasets.camera_images import (
    read_labelled_frames,
    recordings_have_frames,
    same_segment_pairs,
)
from r2etl_core.train.datasets.events import EventSet
from r2etl_core.train.datasets.recordings import scan_recordings
from r2etl_core.train.datasets.windows import WindowParams
from scripts.synthetic_events import random_events

W, H = 64, 48  # the centred square is x 8..56: frames are 255 outside it, so a wrong crop shows
T0 = 1_000_000
SEGMENTS = [LabelSegment(T0, T0 + 400_000, "up"), LabelSegment(T0 + 400_000, T0 + 500_000, "idle"),
            LabelSegment(T0 + 500_000, T0 + 900_000, "down"), LabelSegment(T0 + 900_000, T0 + 1_000_000, "none")]
TINY = ["--set", "data.time_steps=4", "--set", "model.width=0.0625", "--set", "run.threads=1",
        "--batch-size", "4", "--set", 'optim.scheduler="none"']


def frames_recording(path: Path, values: list[int], segments=SEGMENTS, seed: int = 0) -> Path:
    """Events over [T0, T0 + 1.1 s) and a frame every 50 ms from T0 + 20 ms, frame k grey
    ``values[k]`` inside the centred square and 255 outside; plus its labels sidecar."""
    t = T0 + 20_000 + 50_000 * np.arange(len(values))
    images = np.full((len(values), H, W), 255, np.uint8)
    for k, v in enumerate(values):
        images[k, :, 8:56] = v
    events = random_events(6_000, W, H, 1_100_000, T0, seed)
    write_recording_with_frames(path, events, CameraFrames(t.astype(np.int64), images))
    write_labels(path.with_suffix("").with_suffix(".labels.csv"), segments)
    return path


def frame_times(values_count: int) -> np.ndarray:
    return T0 + 20_000 + 50_000 * np.arange(values_count)


def test_frames_are_labelled_by_their_segment_and_cut_like_the_events(tmp_path):
    frames_recording(tmp_path / "a.aedat4", list(range(10, 230, 10)))  # 22 frames over 1.07 s
    recordings = scan_recordings(tmp_path)
    got = read_labelled_frames(recordings, recordings.class_names, WindowParams(4, 30_000, 2, 12))
    t = frame_times(22)
    up = (t >= T0) & (t < T0 + 400_000)
    down = (t >= T0 + 500_000) & (t < T0 + 900_000)  # idle, 'none' and the unlabelled tail are skipped
    assert got.t_us.tolist() == t[up | down].tolist()
    assert [recordings.class_names[c] for c in got.labels] == ["up"] * up.sum() + ["down"] * down.sum()
    assert got.images.shape == (len(got), 12, 12)
    values = np.asarray(range(10, 230, 10))[up | down]
    assert (got.images == values[:, None, None]).all()  # only the centred square, area-resized
    assert got.recordings == ("a.aedat4",) * len(got)


def test_validation_recordings_give_no_frames(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    for k in range(3):  # recording k's frames are grey 40 + 60k: where a trained frame came from shows
        frames_recording(clips / f"take-{k}.aedat4", [40 + 60 * k] * 22, seed=k)
    cfg = DataConfig(events="aedat4", events_dir=str(clips), images="aedat4-frames", images_path=str(clips),
                     split="by-recording", val_every=3, time_steps=4, input_size=12, cache_dir="",
                     pairing="instance")
    data = build_train_data(cfg, events_only=False)
    held = [int(h.split("-")[1][0]) for h in data.holdout]
    assert held and data.counts["image_recordings"] == 3 - len(held) and data.counts["pairing"] == "instance"
    mean, std = data.normalisation["images"]["mean"][0], data.normalisation["images"]["std"][0]
    grey = {round((float(data.train[i][0][0, 6, 6]) * std + mean) * 255) for i in range(len(data.train))}
    assert grey == {40 + 60 * k for k in range(3) if k not in held}
    assert data.counts["windows_paired_by_class"] == 0


def test_each_window_is_paired_with_the_frame_nearest_its_middle_in_its_segment(tmp_path):
    frames_recording(tmp_path / "a.aedat4", [0] * 22)
    frames_recording(tmp_path / "b.aedat4", [0] * 22, segments=[LabelSegment(T0, T0 + 400_000, "up"),
                                                                LabelSegment(T0 + 400_000, T0 + 1_000_000, "up")])
    recordings = scan_recordings(tmp_path)
    frames = read_labelled_frames(recordings, recordings.class_names, WindowParams(4, 30_000, 2, 12))
    up, down = recordings.class_names.index("up"), recordings.class_names.index("down")
    windows = EventSet(np.zeros((2, 1)), np.asarray([up, down]), recordings.class_names,
                       ("b.aedat4@1330000", "a.aedat4@1510000"))
    pairs, fallback = same_segment_pairs(frames, recordings, windows, 200_000)
    assert fallback == 0 and pairs[:, 1].tolist() == [0, 1]
    # b's window (middle T0 + 430 ms) is nearest the frame at 420 ms, but that one is in the next segment
    assert (frames.recordings[pairs[0, 0]], frames.t_us[pairs[0, 0]]) == ("b.aedat4", T0 + 370_000)
    assert (frames.recordings[pairs[1, 0]], frames.t_us[pairs[1, 0]]) == ("a.aedat4", T0 + 620_000)


def test_a_folder_without_frames_is_one_line_naming_the_file(tmp_path):
    for k in range(2):
        path = tmp_path / f"events-{k}.aedat4"
        with AedatWriter(path, W, H) as writer:
            writer.write(random_events(3_000, W, H, 1_100_000, T0, k))
        write_labels(tmp_path / f"events-{k}.labels.csv", SEGMENTS)
    assert not recordings_have_frames([tmp_path])
    recordings = scan_recordings(tmp_path)
    with pytest.raises(InputError) as info:
        read_labelled_frames(recordings, recordings.class_names, WindowParams(4, 30_000, 2, 12))
    message = str(info.value)
    assert "\n" not in message and str(tmp_path) in message and "events-0.aedat4" in message
    assert "holds APS frames" in message
    frames_recording(tmp_path / "with.aedat4", [9] * 22)
    assert recordings_have_frames([tmp_path]) and recordings_have_frames([tmp_path / "with.aedat4"])
    assert not recordings_have_frames([tmp_path / "events-0.aedat4", tmp_path / "events-0.labels.csv"])


def test_frames_need_labelled_recordings_as_events():
    with pytest.raises(InputError, match="data.images"):
        load_config(None, ['data.images="aedat4-frames"'])
    cfg = load_config(None, ['data.events="aedat4"', 'data.split="by-recording"', 'data.images="aedat4-frames"',
                             'data.pairing="instance"'])
    assert cfg.data.pairing == "instance"


def test_train_from_the_cli_with_the_recordings_own_frames(tmp_path, capsys):
    clips = tmp_path / "clips"
    clips.mkdir()
    for k in range(3):
        frames_recording(clips / f"take-{k}.aedat4", list(range(20, 240, 10)), seed=k)
    out = tmp_path / "run"
    assert cli.main(["train", "--data", f"aedat4:{clips}", "--images", f"aedat4-frames:{clips}", "--steps", "2",
                     "--out", str(out), "--no-progress", "--set", f'data.cache_dir="{tmp_path / "cache"}"',
                     *TINY]) == 0
    meta = read_meta(out / "last.safetensors")
    used = meta.training["data"]
    assert used["images"] == "aedat4-frames" and used["pairing"] == "instance"
    assert used["image_train"] == 2 * 16 and used["image_recordings"] == 2  # 8 'up' + 8 'down' frames each
    assert meta.normalisation["images"]["kind"] == "aedat4-frames"
    other = tmp_path / "other"
    other.mkdir()
    frames_recording(other / "x.aedat4", [5] * 22)
    assert cli.main(["train", "--data", f"aedat4:{clips}", "--images", f"aedat4-frames:{other}", "--steps", "1",
                     "--out", str(tmp_path / "run2"), "--no-progress", *TINY,
                     "--set", f'data.cache_dir="{tmp_path / "cache"}"']) == 0  # other recordings: by class
    assert read_meta(tmp_path / "run2" / "last.safetensors").training["data"]["pairing"] == "class"


def test_one_recording_held_out_by_time_keeps_its_end_frames_out(tmp_path):
    """One recording: the last quarter of every segment is validation, for the frames too."""
    clips = tmp_path / "clips"
    clips.mkdir()
    frames_recording(clips / "take.aedat4", list(range(20, 240, 10)))
    out = tmp_path / "run"
    assert cli.main(["train", "--data", f"aedat4:{clips}", "--images", f"aedat4-frames:{clips}", "--steps", "2",
                     "--out", str(out), "--no-progress", *TINY]) == 0
    meta = read_meta(out / "last.safetensors")
    assert meta.training["held_out"] == "by-time"
    # 'up' [T0, T0+400ms) and 'down' [T0+500ms, T0+900ms): 8 frames each; the held-out ends
    # (the last 150 ms: 3 frames each) are not trained on
    assert meta.training["data"]["image_train"] == 2 * 5


SHARED_TRAFFIC = Path(__file__).resolve().parents[2] / "shared" / "data" / "recordings" / \
    "davis346-traffic-frames.aedat4"


@pytest.mark.skipif(not SHARED_TRAFFIC.exists(), reason="../shared/data/recordings (real DAVIS346 frames) absent")
def test_real_davis346_frames_labelled_by_segment(tmp_path):
    """The real DAVIS346 traffic recording (59 frames at 25 Hz from 4 ms before its first event)
    labelled in two stretches with a gap: the frames inside each, cut to the centred 260 px square."""
    (tmp_path / "traffic.aedat4").symlink_to(SHARED_TRAFFIC)
    first = 1589163147368868  # its first event; frame k is at 1589163147364965 + 40 ms * k
    write_labels(tmp_path / "traffic.labels.csv", [LabelSegment(first, first + 1_000_000, "early"),
                                                   LabelSegment(first + 1_200_000, first + 2_400_000, "late")])
    recordings = scan_recordings(tmp_path)
    assert recordings.sensor == (346, 260)
    got = read_labelled_frames(recordings, recordings.class_names, WindowParams(10, 30_000, 2, 34))
    early, late = recordings.class_names.index("early"), recordings.class_names.index("late")
    assert (got.labels == early).sum() == 25 and (got.labels == late).sum() == 28  # frames 1-25 and 31-58
    assert got.images.shape == (53, 34, 34) and 20 < got.images.mean() < 235
