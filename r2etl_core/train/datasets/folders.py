"""Class-per-folder layouts: scanning, layout help in errors, and matching class names across domains."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from r2etl_core.errors import InputError

LAYOUTS: dict[str, str] = {
    "nmnist": "DIR/<class>/<id>.bin, e.g. DIR/0/00001.bin ... DIR/9/59990.bin (official N-MNIST Train/ or Test/)",
    "ncaltech101": "DIR/<class>/image_NNNN.bin, e.g. DIR/airplanes/image_0001.bin (official N-Caltech101 Caltech101/)",
    "cifar10dvs": "DIR/<class>/<name>.aedat, e.g. DIR/airplane/cifar10_airplane_0.aedat (official CIFAR10-DVS release)",
    "mnist": "DIR/train-images-idx3-ubyte[.gz] + DIR/train-labels-idx1-ubyte[.gz] (official IDX files), "
             "or a .npz file with arrays 'images' [N,28,28] uint8 and 'labels' [N]",
    "cifar10": "DIR/data_batch_1.bin ... data_batch_5.bin + batches.meta.txt "
               "(official 'CIFAR-10 binary version', cifar-10-batches-bin/)",
    "caltech101": "DIR/<class>/image_NNNN.jpg, e.g. DIR/airplanes/image_0001.jpg (official 101_ObjectCategories/)",
    "imagefolder": "DIR/<class>/<name>.png|.jpg, one sub-folder per class named as the labels in the "
                   "recordings' sidecars, e.g. DIR/wave/0001.png",
}


def layout_error(where: str | Path, kind: str, problem: str) -> InputError:
    """An InputError whose message also shows the folder layout that was expected."""
    return InputError(where, f"{problem}. Expected layout for {kind}: {LAYOUTS[kind]}")


@dataclass(frozen=True)
class ClassFiles:
    """Files of a class-per-folder dataset: ``files[i]`` belongs to class ``labels[i]``."""

    root: Path
    class_names: tuple[str, ...]
    files: tuple[Path, ...]
    labels: tuple[int, ...]

    def relative(self, i: int) -> str:
        return self.files[i].relative_to(self.root).as_posix()

    def indices_of(self, label: int) -> list[int]:
        return [i for i, lab in enumerate(self.labels) if lab == label]


def class_sort_key(name: str) -> tuple[int, int | str]:
    return (0, int(name)) if name.isdigit() else (1, name.lower())


def list_folder(folder: Path) -> list[Path]:
    """Entries of ``folder``; an InputError (not a PermissionError traceback) when it cannot be
    listed. Checked with os.access first so the reason is the same for every user."""
    if not os.access(folder, os.R_OK | os.X_OK):
        raise InputError(folder, "permission denied: cannot list this folder")
    try:
        return list(folder.iterdir())
    except OSError as exc:
        raise InputError(folder, f"cannot list this folder ({exc.strerror or type(exc).__name__})") from None


def scan_class_folders(root: str | Path, suffixes: tuple[str, ...], kind: str,
                       skip: tuple[str, ...] = ()) -> ClassFiles:
    """One sub-folder per class, files sorted by name; empty class folders are an error."""
    root = Path(root)
    if not root.is_dir():
        problem = "is a file, expected a folder" if root.exists() else "folder not found"
        raise layout_error(root, kind, problem)
    class_dirs = sorted((d for d in list_folder(root) if d.is_dir() and not d.name.startswith(".")
                         and d.name not in skip), key=lambda d: class_sort_key(d.name))
    if not class_dirs:
        raise layout_error(root, kind, "no class folders found")
    files: list[Path] = []
    labels: list[int] = []
    for label, d in enumerate(class_dirs):
        found = sorted(f for f in list_folder(d) if f.suffix.lower() in suffixes and f.is_file())
        if not found:
            raise layout_error(d, kind, f"class folder '{d.name}' holds no {'/'.join(suffixes)} files")
        files += found
        labels += [label] * len(found)
    return ClassFiles(root, tuple(d.name for d in class_dirs), tuple(files), tuple(labels))


def check_case(names: list[str], where: str | Path) -> None:
    """Class names are matched across files and domains without regard to case, so two that
    differ only in case would silently merge: an error instead."""
    seen: dict[str, str] = {}
    for name in names:
        other = seen.setdefault(name.lower(), name)
        if other != name:
            raise InputError(where, f"class names '{other}' and '{name}' differ only in case: use one spelling")


def match_classes(source_names: tuple[str, ...], target_names: tuple[str, ...],
                  where: str | Path = "datasets") -> list[int]:
    """Map each target class to the source class of the same name (case-insensitive).

    Returns ``src_index[target_label]``. Any class missing on either side is an error: pairing
    images and events of different classes would teach the network wrong alignments.
    """
    src = {n.lower(): i for i, n in enumerate(source_names)}
    tgt = {n.lower() for n in target_names}
    missing_src = sorted(tgt - set(src))
    missing_tgt = sorted(set(src) - tgt)
    if missing_src or missing_tgt:
        parts = []
        if missing_src:
            parts.append(f"event classes without images: {missing_src[:8]}")
        if missing_tgt:
            parts.append(f"image classes without events: {missing_tgt[:8]}")
        raise InputError(where, "image and event classes do not match by name (" + "; ".join(parts) + ")")
    return [src[n.lower()] for n in target_names]
