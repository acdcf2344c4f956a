"""Dataset readers on synthetic files in every format, framing, caching, pairing, the fixed split."""

import gzip
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from r2etl_core.errors import InputError
from r2etl_core.io.nmnist import write_bin
from r2etl_core.train.datasets.aedat import decode_cifar10dvs, encode_cifar10dvs, read_cifar10dvs
from r2etl_core.train.datasets.events import default_frame_params, load_event_set, scan_event_folders
from r2etl_core.train.datasets.folders import match_classes
from r2etl_core.train.datasets.frames import FrameParams, events_to_frames
from r2etl_core.train.datasets.images import images_to_tensor_array, read_caltech101, read_cifar10, read_mnist
from r2etl_core.train.datasets.pairing import PairedDataset, augment_events, pair_indices
from r2etl_core.train.datasets.splits import shared_nmnist_split, subset_per_class
from r2etl_core.types import EventBatch
from scripts.synthetic_sets import write_nmnist_folder

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def ev(t, x, y, p, size=34):
    return EventBatch(np.asarray(t, np.int64), np.asarray(x, np.int16), np.asarray(y, np.int16),
                      np.asarray(p, np.int8), size, size)


def test_time_frames_follow_the_30ms_grid_from_t0_and_drop_late_events():
    events = ev([0, 29_999, 30_000, 95_000, 299_999, 300_000], [1, 2, 3, 4, 5, 6], [0, 0, 0, 0, 0, 0],
                [1, 0, 1, 1, 0, 1])
    f = events_to_frames(events, FrameParams(10, "time", 30_000))
    assert f.shape == (10, 2, 34, 34) and f.sum() == 5  # the event at 300 ms is past T * slice
    assert f[0, 0, 0, 1] == 1 and f[0, 1, 0, 2] == 1  # channel 0 = ON, 1 = OFF
    assert f[1, 0, 0, 3] == 1 and f[3, 0, 0, 4] == 1 and f[9, 1, 0, 5] == 1


def test_count_frames_split_events_equally_and_time_origin_first():
    events = ev(np.arange(100) + 1_000_000, np.arange(100) % 34, np.zeros(100), np.ones(100))
    f = events_to_frames(events, FrameParams(4, "count"))
    assert f.sum(axis=(1, 2, 3)).tolist() == [25, 25, 25, 25]
    g = events_to_frames(events, FrameParams(2, "time", 50, time_origin="first"))
    assert g.sum(axis=(1, 2, 3)).tolist() == [50, 50]
    assert events_to_frames(events, FrameParams(2, "time", 50)).sum() == 0  # from t = 0: too late


def test_resize_keeps_where_events_are():
    events = ev([0] * 4, [0, 1, 0, 1], [0, 0, 1, 1], [1, 1, 1, 1], size=68)
    f = events_to_frames(events, FrameParams(1, "count", sensor_width=68, sensor_height=68, out_size=34))
    assert f.shape == (1, 2, 34, 34) and f[0, 0, 0, 0] > 0 and f[0, 0, 1:, 1:].sum() == 0


def test_non_square_sensor_frames_are_the_engines_frames():
    """Training sees what the engine will show the model: the centred 48x48 square of a 64x48
    sensor scaled to 32x32 (not the whole sensor squashed), on the engine's own slices."""
    from r2etl_core.stream.slicing import StreamSlicer, bin_to_device
    from scripts.synthetic_events import random_events
    from r2etl_core.types import FrameSpec, SliceByTime

    events = random_events(20_000, 64, 48, duration_us=100_000, seed=3)
    params = FrameParams(10, "time", 10_000, sensor_width=64, sensor_height=48, out_size=32)
    trained = events_to_frames(events, params)
    slicer = StreamSlicer(SliceByTime(params.slice_us))
    slices = slicer.push(events) + slicer.flush()
    assert [sl.t_start_us for sl in slices] == [k * 10_000 for k in range(10)]
    engine, _, _ = bin_to_device(slices, FrameSpec.centred(64, 48, 32), torch.device("cpu"))
    np.testing.assert_array_equal(trained, engine.numpy())
    left = events.select(events.x < 8)  # outside the centred square: in no frame
    assert len(left) > 0 and events_to_frames(left, params).sum() == 0
    assert trained.sum() == pytest.approx(np.count_nonzero((events.x >= 8) & (events.x < 56)) * (32 / 48) ** 2)


def test_square_sensor_frames_are_plain_counts():
    events = ev([5, 10_005, 10_006], [0, 33, 33], [0, 33, 33], [1, 0, 0])
    f = events_to_frames(events, FrameParams(2, "time", 10_000))
    assert f[0, 0, 0, 0] == 1 and f[1, 1, 33, 33] == 2 and f.sum() == 3 and f.dtype == np.float32


def test_nmnist_folder_reader_and_disk_cache(tmp_path):
    root = write_nmnist_folder(tmp_path / "nm", per_class=2, num_classes=3)
    files = scan_event_folders("nmnist", root)
    assert files.class_names == ("0", "1", "2") and len(files.files) == 6
    params = default_frame_params("nmnist", 10, 34, "time", 30_000)
    first = load_event_set("nmnist", files, params, tmp_path / "cache")
    cached = list((tmp_path / "cache").glob("frames-*.npy"))
    assert len(cached) == 1
    again = load_event_set("nmnist", files, params, tmp_path / "cache")
    assert np.array_equal(np.asarray(first.frames), np.asarray(again.frames))
    assert isinstance(again.frames, np.memmap)  # served from the cache
    other = default_frame_params("nmnist", 5, 34, "time", 60_000)
    load_event_set("nmnist", files, other, tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("frames-*.npy"))) == 2  # parameters are in the key
    assert first.paths[0] == "0/00001.bin" and first.labels.tolist() == [0, 0, 1, 1, 2, 2]


def test_corrupt_bin_files_are_clear_errors(tmp_path):
    root = write_nmnist_folder(tmp_path / "nm", per_class=1, num_classes=2)
    bad = root / "1" / "00002.bin"
    bad.write_bytes(bad.read_bytes()[:-2])  # not a multiple of 5
    params = default_frame_params("nmnist", 10, 34, "time", 30_000)
    with pytest.raises(InputError, match="not a multiple of 5"):
        load_event_set("nmnist", scan_event_folders("nmnist", root), params, None)
    write_bin(bad, ev([0], [40], [3], [1], size=64))  # x outside the 34x34 sensor
    with pytest.raises(InputError, match="outside the 34x34 sensor"):
        load_event_set("nmnist", scan_event_folders("nmnist", root), params, None)


def test_missing_and_empty_folders_show_the_expected_layout(tmp_path):
    with pytest.raises(InputError, match=r"Expected layout for nmnist: DIR/<class>/<id>\.bin"):
        scan_event_folders("nmnist", tmp_path / "nope")
    root = write_nmnist_folder(tmp_path / "nm", per_class=1, num_classes=2)
    (root / "7").mkdir()
    with pytest.raises(InputError, match="class folder '7' holds no .bin files"):
        scan_event_folders("nmnist", root)


def test_cifar10dvs_aedat_round_trip_and_errors(tmp_path):
    events = ev([5, 10, 10, 400], [0, 127, 64, 3], [127, 0, 5, 99], [1, 0, 1, 0], size=128)
    path = tmp_path / "cifar10_cat_0.aedat"
    path.write_bytes(encode_cifar10dvs(events))
    back = read_cifar10dvs(path)
    assert (back.width, back.height) == (128, 128)
    for a in "txyp":
        assert getattr(back, a).tolist() == getattr(events, a).tolist()
    # the release's address layout, by hand: raw x (bits 1-7) = 127 - y_out, raw y (bits 8-14) = 127 - x_out
    one = decode_cifar10dvs(b"#!AER-DAT2.0\n" + np.array([(10 << 8) | (20 << 1) | 1, 77], ">u4").tobytes())
    assert (one.x[0], one.y[0], one.p[0], one.t[0]) == (117, 107, 0, 77)
    with pytest.raises(InputError, match="multiple of 8"):
        decode_cifar10dvs(encode_cifar10dvs(events)[:-3])
    with pytest.raises(InputError, match="AEDAT 3/4"):
        decode_cifar10dvs(b"#!AER-DAT3.1\r\n" + b"\x00" * 8)


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + np.asarray(array.shape, ">i4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def test_mnist_idx_gz_plain_and_npz(tmp_path):
    images = np.random.default_rng(0).integers(0, 255, (5, 28, 28)).astype(np.uint8)
    labels = np.array([3, 1, 4, 1, 5], np.uint8)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(images)))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx(labels))
    got = read_mnist(tmp_path)
    assert np.array_equal(got.images, images) and got.labels.tolist() == [3, 1, 4, 1, 5]
    np.savez(tmp_path / "m.npz", images=images, labels=labels)
    assert np.array_equal(read_mnist(tmp_path / "m.npz").images, images)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x09\x01" + b"\x00" * 10)
    with pytest.raises(InputError, match="bad magic"):
        read_mnist(tmp_path)


def test_cifar10_binary_batches_and_python_batches_refused(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(1, 6):
        rec = np.concatenate([np.full((2, 1), i % 10), rng.integers(0, 255, (2, 3072))], axis=1)
        rec.astype(np.uint8).tofile(tmp_path / f"data_batch_{i}.bin")
    (tmp_path / "batches.meta.txt").write_text("\n".join(["airplane", "automobile", "bird", "cat", "deer",
                                                          "dog", "frog", "horse", "ship", "truck"]) + "\n\n")
    got = read_cifar10(tmp_path)
    assert got.images.shape == (10, 32, 32, 3) and got.labels.tolist()[:4] == [1, 1, 2, 2]
    raw = np.fromfile(tmp_path / "data_batch_1.bin", np.uint8)
    assert got.images[0, 0, 1, 2] == raw[1 + 2 * 1024 + 1]  # blue plane, row 0, column 1
    assert got.class_names[3] == "cat"
    py = tmp_path / "py"
    py.mkdir()
    (py / "data_batch_1").write_bytes(b"\x80\x04pickle")
    with pytest.raises(InputError, match="binary version"):
        read_cifar10(py)


def test_caltech101_folders_read_with_opencv(tmp_path):
    for name, colour in (("airplanes", (0, 0, 255)), ("Faces_easy", (255, 0, 0))):
        (tmp_path / name).mkdir()
        cv2.imwrite(str(tmp_path / name / "image_0001.png"), np.full((40, 60, 3), colour, np.uint8))
    got = read_caltech101(tmp_path, 16)
    assert got.class_names == ("airplanes", "Faces_easy") and got.images.shape == (2, 16, 16, 3)
    assert got.images[0, 0, 0].tolist() == [255, 0, 0]  # BGR red on disk -> RGB red


def test_grey_images_become_three_normalised_channels():
    out = images_to_tensor_array(np.full((2, 28, 28), 255, np.uint8), 34, "mnist")
    assert out.shape == (2, 3, 34, 34)
    assert np.allclose(out, (1.0 - 0.1307) / 0.3081, atol=1e-5)


def test_class_matching_by_name_and_mismatch_error():
    with pytest.raises(InputError, match="image classes without events: \\['dog'\\]"):
        match_classes(("cat", "dog", "bird"), ("bird", "cat"))
    assert match_classes(("cat", "dog"), ("Dog", "cat")) == [1, 0]
    with pytest.raises(InputError, match="event classes without images"):
        match_classes(("0", "1"), ("0", "1", "2"))


def test_pairing_is_same_class_k_mod_n():
    image_labels = np.array([0, 1, 0, 0, 1, 0])
    event_labels = np.array([1, 0, 0, 1, 1])
    pairs = pair_indices(image_labels, event_labels)
    # class 0 images 0,2,3,5 -> event samples of class 0 are [1, 2]: k mod 2
    assert [tuple(p) for p in pairs if image_labels[p[0]] == 0] == [(0, 1), (2, 2), (3, 1), (5, 2)]
    assert [tuple(p) for p in pairs if image_labels[p[0]] == 1] == [(1, 0), (4, 3)]
    ds = PairedDataset(np.zeros((6, 3, 4, 4), np.float32), image_labels,
                       np.zeros((5, 2, 2, 4, 4), np.float16), event_labels)
    assert len(ds) == 6 and all(event_labels[b] == image_labels[a] for a, b in ds.pairs)
    with pytest.raises(ValueError, match="no event samples"):
        pair_indices(np.array([2]), event_labels)


def test_fractions_are_per_class_and_seeded():
    labels = np.repeat(np.arange(4), [10, 20, 3, 40])
    keep = subset_per_class(labels, 0.25, seed=0)
    assert np.bincount(labels[keep]).tolist() == [2, 5, 1, 10]
    assert np.array_equal(keep, subset_per_class(labels, 0.25, seed=0))
    assert not np.array_equal(keep, subset_per_class(labels, 0.25, seed=1))


def test_augmentation_is_the_same_for_all_time_steps():
    base = torch.rand(4, 1, 2, 34, 34)
    frames = base.expand(4, 5, 2, 34, 34).clone()
    out = augment_events(frames, torch.Generator().manual_seed(0), flip=True, max_shift=5)
    assert all(torch.equal(out[:, t], out[:, 0]) for t in range(5))
    assert not torch.equal(out, frames)  # something moved
    assert torch.allclose(out.sum(dim=(-1, -2)), frames.sum(dim=(-1, -2)))  # circular: nothing lost


def test_shared_split_rule_on_synthetic_ids(tmp_path):
    root = write_nmnist_folder(tmp_path / "nm", per_class=6, num_classes=2)
    split = shared_nmnist_split(root)
    # class 0 holds ids 1,3,5,7,9,11 (sorted): indices 0 and 5 -> validation
    assert [p for p in split.val if p.startswith("0/")] == ["0/00001.bin", "0/00011.bin"]
    assert len(split.train) == 8 and not set(split.train) & set(split.val)
    assert split.excluded_image_ids == {0, 10, 1, 11}


@pytest.mark.skipif(not (SHARED / "nmnist" / "Train").is_dir(), reason="needs ../shared/data beside the checkout")
def test_shared_split_on_the_real_data():
    split = shared_nmnist_split(SHARED / "nmnist" / "Train")
    per_class = [97, 116, 99, 93, 105, 92, 94, 117, 87, 100]
    assert len(split.val) == sum((n + 4) // 5 for n in per_class) == 204
    assert len(split.train) == 1000 - 204
    assert all(int(Path(p).stem) - 1 in split.excluded_image_ids for p in split.val)
    names = sorted(p.name for p in (SHARED / "nmnist" / "Train" / "3").glob("*.bin"))
    assert f"3/{names[0]}" in split.val and f"3/{names[1]}" in split.train and f"3/{names[5]}" in split.val
