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
    except FileNotFoundError:
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


def check_output_path(path: str | Path, what: str = "output file") -> Path:
    """``path`` if a file can be written there: its folder exists and it is not a folder."""
    path = Path(path)
    if path.is_dir():
        raise InputError(path, f"is a folder, expected a path for the {what}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(path, f"folder {parent} does not exist (create it first)")
    if not os.access(parent, os.W_OK):
        raise InputError(path, f"permission denied: cannot write in {parent}")
    return path


def check_output_dir(path: str | Path, what: str = "output folder") -> Path:
    """``path`` if it is a writable folder or can be made one (``mkdir -p``): checked before a
    long job starts, so a file in the way fails now, not after hours of training."""
    path = Path(path)
    for existing in (path, *path.parents):
        if not (existing.exists() or existing.is_symlink()):
            continue
        if not existing.is_dir():
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
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part", dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(tmp)

    def commit(self) -> Path:
        os.chmod(self.tmp, 0o644)  # mkstemp makes 0600 files; outputs are shared (models, logs)
        os.replace(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        if self.tmp.exists():
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
