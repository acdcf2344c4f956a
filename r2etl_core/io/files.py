"""File helpers every reader and writer shares: one input check, one atomic write.

``check_input_file`` gives the same one-line errors for every kind of file the user names
(missing, a folder, unreadable, empty, not a regular file). ``atomic_write`` writes beside the
target and renames over it only when the write finished, so an interrupted or failed write
never replaces a good file and never leaves a half-written one under the final name.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from pathlib import Path
from typing import Iterator

from r2etl_core.errors import InputError


def check_input_file(path: str | Path, what: str = "file", error: type[InputError] = InputError,
                     allow_empty: bool = False) -> Path:
    """``path`` if it is a readable, non-empty regular file; else ``error(path, problem)``."""
    path = Path(path)
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise error(path, f"{what} not found") from None
    except OSError as exc:
        raise error(path, f"cannot read {what} ({exc.strerror or type(exc).__name__})") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(path, f"is a folder, expected a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise error(path, f"is not a regular file (a pipe or device?), expected a {what}")
    if not os.access(path, os.R_OK):
        raise error(path, f"permission denied: cannot read this {what}")
    if st.st_size == 0 and not allow_empty:
        raise error(path, f"{what} is empty")
    return path


def path_stat(path: Path, what: str) -> os.stat_result | None:
    """``path.stat()`` or None when nothing is there; a folder on the way that cannot be searched
    (no x permission) is the one-line error every path gets, not a PermissionError traceback."""
    try:
        return path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise InputError(path, f"cannot reach this {what} ({exc.strerror or type(exc).__name__}: "
                               "is a folder on the way not searchable?)") from None


def is_null_device(path: str | Path) -> bool:
    """Is ``path`` the system's null device (or a copy of it made with mknod)? Writes to it
    vanish, so it is written in place: renaming a temporary file over it would replace it."""
    try:
        st, null = os.stat(path), os.stat(os.devnull)
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == null.st_rdev


# What a previous output of each kind looks like: overwriting it is the point of --out, while
# overwriting any other file (a recording, a model, notes) needs --force.
def _first_bytes(path: Path, n: int = 64) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def _looks_jsonl(path: Path) -> bool:
    with open(path, "rb") as f:
        line = f.readline(1 << 16).strip()
    return not line or (line.startswith(b"{") and line.endswith(b"}"))


def _looks_json(path: Path) -> bool:
    head = _first_bytes(path).lstrip()
    return not head or head.startswith(b"{")


IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"GIF8", b"RIFF")
OUTPUT_KINDS = {
    "jsonl": ("a prediction log (JSON lines)", _looks_jsonl),
    "json": ("a JSON file", _looks_json),
    "image": ("an image", lambda p: _first_bytes(p).startswith(IMAGE_MAGIC) or p.stat().st_size == 0),
}


def check_output_path(path: str | Path, what: str = "output file", inputs: tuple = (),
                      kind: str | None = None, force: bool = False) -> Path:
    """``path`` if the ``what`` can be written there without losing anything: its folder exists
    and is writable; it is not a folder; it is none of ``inputs`` (the files this run reads:
    never overwritten, even with ``force``); a device or pipe is refused (the null device is
    written in place); and an existing file must look like a previous output of ``kind``
    (``OUTPUT_KINDS``) unless ``force``."""
    path = Path(path)
    st = path_stat(path, what)
    if st is not None:
        _check_existing(path, st, what, inputs, kind, force)
    parent = path.parent if str(path.parent) else Path(".")
    parent_st = path_stat(parent, f"folder of the {what}")
    if parent_st is None or not stat.S_ISDIR(parent_st.st_mode):
        raise InputError(path, f"folder {parent} does not exist (create it first)")
    if not os.access(parent, os.W_OK):
        raise InputError(path, f"permission denied: cannot write in {parent}")
    return path


def _check_existing(path: Path, st: os.stat_result, what: str, inputs: tuple, kind: str | None,
                    force: bool) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise InputError(path, f"is a folder, expected a path for the {what}")
    if not stat.S_ISREG(st.st_mode):
        if is_null_device(path):
            return
        raise InputError(path, f"is not a regular file (a device or pipe): the {what} is only written "
                               "to regular files (or the null device)")
    for name in inputs:
        other = path_stat(Path(name), "input") if name else None
        if other is not None and (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
            raise InputError(path, f"is an input of this run: writing the {what} there would destroy it "
                                   "(choose another path)")
    if kind is None or force:
        return
    described, looks_right = OUTPUT_KINDS[kind]
    try:
        ours = looks_right(path)
    except OSError:
        ours = False
    if not ours:
        raise InputError(path, f"exists and is not {described}: refusing to overwrite it with the "
                               f"{what} (use --force, or another path)")


def check_output_dir(path: str | Path, what: str = "output folder") -> Path:
    """``path`` if it is a writable folder or can be made one (``mkdir -p``): checked before a
    long job starts, so a file in the way fails now, not after hours of training."""
    path = Path(path)
    for existing in (path, *path.parents):
        found = path_stat(existing, what)
        if found is None and not existing.is_symlink():  # a dangling link is in the way too
            continue
        if found is None or not stat.S_ISDIR(found.st_mode):
            where = "is a file" if existing == path else f"{existing} is a file"
            raise InputError(path, f"{where}, expected a folder for the {what}")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise InputError(path, f"permission denied: cannot write in {existing}")
        break
    return path


class AtomicFile:
    """A temporary path beside ``path`` that becomes ``path`` only on ``commit()``; for writers
    that stream for a while (prediction logs). Unique temp names keep parallel writers (DDP
    ranks, concurrent runs) apart."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.in_place = is_null_device(self.path)
        if self.in_place:  # renaming over a device would replace the system's /dev/null
            self.tmp = self.path
            return
        st = path_stat(self.path, "output file")
        if st is not None and not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):
            raise InputError(self.path, "is not a regular file (a device or pipe): refusing to replace it")
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part", dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(tmp)

    def commit(self) -> Path:
        if self.in_place:
            return self.path
        os.chmod(self.tmp, 0o644)  # mkstemp makes 0600 files; outputs are shared (models, logs)
        os.replace(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        if not self.in_place and self.tmp.exists():
            self.tmp.unlink()


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block finishes, rename it over ``path``
    (an exception leaves ``path`` untouched and removes the temporary file)."""
    target = AtomicFile(path)
    try:
        yield target.tmp
        target.commit()
    finally:
        target.discard()


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks (model files, exports)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
