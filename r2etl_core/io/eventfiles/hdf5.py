"""Plain HDF5 event files (``.h5``/``.hdf5``), read with h5py in chunks.

Layouts found (first match wins), each with time in microseconds:

- four 1-D datasets ``t`` (or ``ts``/``timestamp``), ``x``, ``y``, ``p`` (or ``polarity``/``on``)
  in the group ``events`` (DSEC; its root ``t_offset`` is added to ``t``) or at the root;
- one compound dataset ``events`` (or ``CD/events``) with those fields;
- one N x 4 dataset ``events`` with columns t, x, y, p.

The sensor size comes from ``width``/``height`` (or ``sensor_width``/``sensor_height``)
attributes of the file or the group, else from the events. Prophesee's own HDF5 files compress
``CD/events`` with their ECF codec, which h5py cannot decode: that is one line, not a traceback.
"""

from __future__ import annotations

from typing import Iterator

import h5py
import numpy as np

from r2etl_core.errors import InputError
from r2etl_core.io.eventfiles._base import EventFileReader, make_batch
from r2etl_core.types import EventBatch

CHUNK_EVENTS = 1 << 20
_T, _P = ("t", "ts", "timestamp", "timestamps"), ("p", "polarity", "on", "pol")
_LAYOUT = "expected datasets t, x, y, p (at the root or in 'events'), or a dataset 'events' of them"


def _pick(names, options) -> str | None:
    return next((name for name in options if name in names), None)


class Hdf5Reader(EventFileReader):
    """Events of one HDF5 file in one of the layouts of the module docstring."""

    what = "HDF5 event file"
    format_name = "HDF5"

    def _open(self) -> None:
        self._file = h5py.File(self.path, "r")
        self._columns, self._table, where = self._find_layout()
        self.format_name = f"HDF5 ({where})"
        offset = self._file.get("t_offset")
        self._t_offset = int(offset[()]) if isinstance(offset, h5py.Dataset) and offset.shape == () else 0
        found = self._file[where]
        for attrs in (self._file.attrs, found.parent.attrs, found.attrs):
            for w, h in (("width", "height"), ("sensor_width", "sensor_height")):
                if w in attrs and h in attrs:
                    self._size = (int(attrs[w]), int(attrs[h]))
        self._length = len(self._table) if self._table is not None else len(self._columns["t"])

    def _find_layout(self):
        """({t,x,y,p: 1-D dataset} or None, table dataset or None, where it was found)."""
        for where in ("events", ""):
            group = self._file.get(where) if where else self._file
            if not isinstance(group, h5py.Group):
                continue
            t, p = _pick(group, _T), _pick(group, _P)
            if t and p and "x" in group and "y" in group:
                columns = {"t": group[t], "x": group["x"], "y": group["y"], "p": group[p]}
                if all(isinstance(d, h5py.Dataset) and d.ndim == 1 for d in columns.values()):
                    if len({len(d) for d in columns.values()}) != 1:
                        raise InputError(self.path, f"datasets t, x, y, p of '{where or '/'}' differ in length")
                    return columns, None, where or "/"
        for where in ("events", "CD/events"):
            table = self._file.get(where)
            if isinstance(table, h5py.Dataset) and self._table_fields(table):
                return None, table, where
        raise InputError(self.path, f"no event datasets found ({_LAYOUT})")

    def _table_fields(self, table: h5py.Dataset) -> tuple[str, str, str, str] | None:
        names = table.dtype.names
        if names:
            t, p = _pick(names, _T), _pick(names, _P)
            if t and p and "x" in names and "y" in names:
                self._fields = (t, "x", "y", p)
                return self._fields
            return None
        if table.ndim == 2 and table.shape[1] == 4:
            self._fields = None
            return ("0", "1", "2", "3")
        return None

    def _read(self, lo: int, hi: int) -> EventBatch:
        if self._table is None:
            t, x, y, p = (self._columns[k][lo:hi] for k in ("t", "x", "y", "p"))
        else:
            rows = self._table[lo:hi]
            t, x, y, p = (rows[f] for f in self._fields) if self._fields else rows.T
        t = np.asarray(t)
        if t.dtype.kind == "f":
            t = np.round(t)
        return make_batch(t.astype(np.int64) + self._t_offset, x, y, p, 0, 0)

    def _time_at(self, index: int) -> int:
        return int(self._read(index, index + 1).t[0])

    def _decode(self, start_us: int | None) -> Iterator[EventBatch]:
        lo = 0
        if start_us is not None:  # binary search on the time column: a few small reads
            hi = self._length
            while lo < hi:
                mid = (lo + hi) // 2
                lo, hi = (mid + 1, hi) if self._time_at(mid) < start_us else (lo, mid)
        for at in range(lo, self._length, CHUNK_EVENTS):
            yield self._read(at, min(at + CHUNK_EVENTS, self._length))

    def close(self) -> None:
        file = getattr(self, "_file", None)
        if file is not None:
            file.close()
