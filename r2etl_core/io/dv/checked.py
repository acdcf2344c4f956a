"""What dv-processing may open for an .aedat4 file: the file itself when the guard's scan
(``r2etl_core.io.dv.guard``) found it sound, else a temporary copy of the packets before the
first damage, so dv stops where the damage starts instead of freezing in it."""

from __future__ import annotations

import os
import struct
import tempfile
import weakref
from pathlib import Path
from typing import BinaryIO

from r2etl_core.errors import InputError
from r2etl_core.io.dv._flatbuf import Bad
from r2etl_core.io.dv.guard import Scan, scan_file

_COPY_CHUNK = 1 << 20


def write_readable_prefix(path: Path, scan: Scan, out: BinaryIO) -> None:
    """Copy header + the packets before the damage to ``out``, without a data table (the
    header's table position becomes -1), so dv reads them sequentially and stops there."""
    with open(path, "rb") as f:
        header = bytearray(f.read(scan.header_end))
        if scan.table_field_at is not None:
            struct.pack_into("<q", header, scan.table_field_at, -1)
        out.write(header)
        left = scan.good_end - scan.header_end
        while left > 0:
            chunk = f.read(min(left, _COPY_CHUNK))
            if not chunk:
                break
            out.write(chunk)
            left -= len(chunk)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass  # already gone (a tmp cleaner) or the folder vanished: nothing left to free


class CheckedFile:
    """What dv may open for ``path``: the file itself when it is sound, else a temporary copy of
    the packets before the first damage. ``damage`` is the one-line error to raise once those
    events are read. The copy is removed by ``close()`` or when this object is collected."""

    def __init__(self, path: Path):
        self.path, self.dv_path = path, path
        self.damage: InputError | None = None
        self.event_times: list[tuple[int, int]] = []  # (first, last) event time of each event packet
        self._finalizer: weakref.finalize | None = None
        try:
            scan = scan_file(path)
        except EOFError:
            raise InputError(path, "truncated .aedat4 file (it ends inside its header)") from None
        except Bad as exc:
            raise InputError(path, f"truncated or corrupt .aedat4 file (damaged header: {exc})") from None
        self.event_times = [scan.event_times[pos] for pos in sorted(scan.event_times)]
        if scan.damage is not None:
            where = scan.damage
            self.damage = InputError(path, f"truncated or corrupt .aedat4 file from byte {where.offset} on: "
                                           f"{where.problem}")
            self.dv_path = self._readable_copy(scan)

    def _readable_copy(self, scan: Scan) -> Path:
        fd, name = tempfile.mkstemp(prefix="r2etl-readable-", suffix=".aedat4")
        self._finalizer = weakref.finalize(self, _unlink, name)
        try:
            with os.fdopen(fd, "wb") as out:
                write_readable_prefix(self.path, scan, out)
        except OSError:  # e.g. no room in the temp folder: the damage is still the news
            self.close()
            raise self.damage from None
        return Path(name)

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
