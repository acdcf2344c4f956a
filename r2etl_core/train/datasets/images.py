"""Image (source-domain) readers: MNIST (IDX, gz or not, or .npz), CIFAR-10 binary, Caltech101
folders, and any folder of PNG/JPEG images with one sub-folder per class (``imagefolder``).

Nothing is unpickled: the CIFAR-10 *python* batches are pickles and are refused with a pointer to
the official binary version, which numpy parses safely. ``.npz`` files load with
``allow_pickle=False``.
"""

from __future__ import annotations

import gzip
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from r2etl_core.errors import InputError
from r2etl_core.io.files import check_input_file
from r2etl_core.io.image_headers import check_image_file
from r2etl_core.parse import brief
from r2etl_core.train.datasets.folders import ClassFiles, check_case, layout_error, scan_class_folders

MNIST_CLASSES = tuple(str(i) for i in range(10))
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# per-channel (mean, std) of [0, 1] pixels, used by ``normalise``
NORMALISATION = {
    "mnist": ((0.1307,) * 3, (0.3081,) * 3),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "caltech101": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


@dataclass(frozen=True)
class ImageSet:
    """``images`` uint8 ``[N, H, W]`` (grey) or ``[N, H, W, 3]``; ``ids`` = index in the source file."""

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    ids: np.ndarray

    def subset(self, keep: np.ndarray) -> "ImageSet":
        return ImageSet(self.images[keep], self.labels[keep], self.class_names, self.ids[keep])


def _open_maybe_gz(path: Path) -> bytes:
    data = check_input_file(path, "IDX file").read_bytes()
    try:
        return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    except (OSError, EOFError, zlib.error) as exc:  # truncated or corrupt .gz
        raise InputError(path, f"corrupt gzip file ({brief(exc)})") from None


def parse_idx(data: bytes, where: str | Path) -> np.ndarray:
    """IDX file (MNIST): magic 0x0000 0x08 ndim, big-endian int32 dims, then uint8 values."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise InputError(where, "not an IDX uint8 file (bad magic number)")
    ndim = data[3]
    dims = np.frombuffer(data[4:4 + 4 * ndim], dtype=">i4").astype(np.int64)
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if len(dims) != ndim or body.size != int(np.prod(dims)):
        raise InputError(where, f"corrupt IDX file: header says {dims.tolist()}, body has {body.size} bytes")
    return body.reshape(tuple(dims))


def _find(root: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (root / name).is_file():
            return root / name
    return None


def read_mnist(path: str | Path, split: str = "train") -> ImageSet:
    """MNIST from a folder of IDX files (``train-`` or ``t10k-`` prefix) or from a .npz file."""
    path = Path(path)
    if path.suffix == ".npz" and not path.is_dir():
        check_input_file(path, "MNIST .npz file")
        try:
            with np.load(path, allow_pickle=False) as z:
                images, labels = np.asarray(z["images"]), np.asarray(z["labels"])
        except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise layout_error(path, "mnist", f"unreadable .npz ({brief(exc)})") from None
    elif path.is_dir():
        prefix = "train" if split == "train" else "t10k"
        img_f = _find(path, f"{prefix}-images-idx3-ubyte")
        lab_f = _find(path, f"{prefix}-labels-idx1-ubyte")
        if img_f is None or lab_f is None:
            raise layout_error(path, "mnist", f"{prefix}-images/labels IDX files not found")
        images = parse_idx(_open_maybe_gz(img_f), img_f)
        labels = parse_idx(_open_maybe_gz(lab_f), lab_f)
    else:
        raise layout_error(path, "mnist", "not a folder or a .npz file")
    if images.ndim != 3 or len(images) != len(labels):
        raise layout_error(path, "mnist", f"images {images.shape} and labels {labels.shape} do not fit")
    if labels.size and int(labels.max()) > 9:
        raise layout_error(path, "mnist", "labels outside 0..9")
    return ImageSet(images.astype(np.uint8), labels.astype(np.int64), MNIST_CLASSES, np.arange(len(images)))


def read_cifar10(path: str | Path, split: str = "train") -> ImageSet:
    """CIFAR-10 binary version: records of 1 label byte + 3072 bytes (R, G, B planes of 32x32)."""
    path = Path(path)
    if not path.is_dir():
        raise layout_error(path, "cifar10", "folder not found")
    if (path / "data_batch_1").exists() and not (path / "data_batch_1.bin").exists():
        raise InputError(path, "these are the CIFAR-10 *python* batches (pickle files), which r2etl "
                               "never unpickles. Download the 'CIFAR-10 binary version' "
                               "(cifar-10-binary.tar.gz, folder cifar-10-batches-bin/) instead")
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] if split == "train" else ["test_batch.bin"]
    missing = [n for n in names if not (path / n).is_file()]
    if missing:
        raise layout_error(path, "cifar10", f"missing {missing}")
    records = []
    for n in names:
        raw = np.fromfile(check_input_file(path / n, "CIFAR-10 batch"), dtype=np.uint8)
        if raw.size % 3073:
            raise InputError(path / n, f"corrupt CIFAR-10 batch: {raw.size} bytes is not a multiple of 3073")
        records.append(raw.reshape(-1, 3073))
    rec = np.concatenate(records)
    images = rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    meta = path / "batches.meta.txt"
    classes = tuple(ln.strip() for ln in meta.read_text().splitlines() if ln.strip()) if meta.is_file() \
        else CIFAR10_CLASSES
    return ImageSet(np.ascontiguousarray(images), rec[:, 0].astype(np.int64), classes, np.arange(len(rec)))


def read_caltech101(path: str | Path, size: int) -> ImageSet:
    """Caltech101 image folders, read with OpenCV (BGR -> RGB) and resized to ``size`` x ``size``."""
    return _read_resized(scan_class_folders(path, (".jpg", ".jpeg", ".png"), "caltech101"), size)


def _read_resized(files: ClassFiles, size: int) -> ImageSet:
    """Every file read with OpenCV (grey or colour, to RGB) and resized to ``size`` at once, so
    a folder of large photos never sits in memory at full size."""
    images = np.empty((len(files.files), size, size, 3), np.uint8)
    for i, f in enumerate(files.files):
        check_image_file(f)  # a 65535x65535 header or a cut JPEG: one line, before OpenCV decodes it
        img = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if img is None:
            raise InputError(f, "OpenCV cannot read this image (not a valid PNG or JPEG?): replace or remove it")
        images[i] = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)[:, :, ::-1]
    return ImageSet(images, np.asarray(files.labels, np.int64), files.class_names, np.arange(len(images)))


IMAGE_FOLDER_SUFFIXES = (".png", ".jpg", ".jpeg")


def read_image_folder(path: str | Path, size: int) -> ImageSet:
    """One sub-folder per class, named as the event labels; every PNG/JPEG read and resized.
    Class names that differ only in case are an error: classes are matched to the event labels
    without regard to case."""
    files = scan_class_folders(path, IMAGE_FOLDER_SUFFIXES, "imagefolder")
    check_case(list(files.class_names), path)
    return _read_resized(files, size)


def channel_stats(images: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel (mean, std) of ``[N, H, W, 3]`` uint8 images as [0, 1] pixels: an image folder
    has no published statistics, so it is normalised by its own (recorded in the model file)."""
    pixels = images.reshape(-1, 3).astype(np.float64) / 255.0
    mean, std = pixels.mean(0), np.maximum(pixels.std(0), 1e-3)
    return tuple(round(float(v), 5) for v in mean), tuple(round(float(v), 5) for v in std)


def images_to_tensor_array(images: np.ndarray, size: int, kind: str,
                           stats: tuple[tuple[float, ...], tuple[float, ...]] | None = None) -> np.ndarray:
    """uint8 images -> float32 ``[N, 3, size, size]``: grey copied to 3 channels, resized,
    normalised with ``stats`` (mean, std), by default the published ones of ``kind``."""
    mean, std = stats if stats is not None else NORMALISATION[kind]
    out = np.empty((len(images), 3, size, size), np.float32)
    for i, img in enumerate(images):
        if img.shape[0] != size or img.shape[1] != size:
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        out[i] = img.transpose(2, 0, 1) / 255.0
    out -= np.asarray(mean, np.float32)[None, :, None, None]
    out /= np.asarray(std, np.float32)[None, :, None, None]
    return out
