"""Writers of small event files in every format the readers take (tests, the bad-input corpus).

Each encoder is written with numpy from the format's published description, independently of
faery (whose decoders the tests check against these files): Prophesee EVT 2.0 / EVT 3.0 /
DAT 2 (docs.prophesee.ai), Event Stream 2 DVS (neuromorphicsystems/event_stream's spec), jAER
AEDAT 2.0 DAVIS and cAER AEDAT 3.1 (docs.inivation.com), CSV and plain HDF5 layouts. Events
must be time-ordered; EVT 3.0 holds timestamps below 2**24 us here (no wrap-around).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from r2etl_core.types import EventBatch

HDF5_LAYOUTS = ("events-group", "root", "table", "matrix")


def _cols(ev: EventBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return ev.t.astype(np.int64), ev.x.astype(np.int64), ev.y.astype(np.int64), (ev.p > 0).astype(np.int64)


def encode_evt2(ev: EventBatch, header: str | None = None) -> bytes:
    """EVT 2.0: a TIME_HIGH word (type 0x8, t >> 6) whenever it changes, then one CD word per
    event (type = polarity, t & 63 in bits 22-27, x in bits 11-21, y in bits 0-10)."""
    t, x, y, p = _cols(ev)
    high = t >> 6
    new_high = np.ones(len(t), bool) if len(t) else np.zeros(0, bool)
    new_high[1:] = high[1:] != high[:-1]
    cd = (p << 28) | ((t & 63) << 22) | (x << 11) | y
    words = np.stack([(8 << 28) | (high & 0x0FFFFFFF), cd], axis=1).ravel()
    keep = np.stack([new_high, np.ones(len(t), bool)], axis=1).ravel()
    head = header if header is not None else f"% evt 2.0\n% format EVT2;height={ev.height};width={ev.width}\n% end\n"
    return head.encode() + words[keep].astype("<u4").tobytes()


def encode_evt3(ev: EventBatch) -> bytes:
    """EVT 3.0 16-bit words: TIME_HIGH (0x8, t >> 12) and TIME_LOW (0x6, t & 0xFFF) when they
    change, ADDR_Y (0x0) when y changes, then ADDR_X (0x2, polarity in bit 11) per event."""
    t, x, y, p = _cols(ev)
    words: list[int] = []
    last_high = last_low = last_y = None
    for ti, xi, yi, pi in zip(t.tolist(), x.tolist(), y.tolist(), p.tolist()):
        if ti >> 12 != last_high:
            last_high = ti >> 12
            words.append((0x8 << 12) | (last_high & 0xFFF))
        if ti & 0xFFF != last_low:
            last_low = ti & 0xFFF
            words.append((0x6 << 12) | last_low)
        if yi != last_y:
            last_y = yi
            words.append(yi)
        words.append((0x2 << 12) | (pi << 11) | xi)
    head = f"% evt 3.0\n% format EVT3;height={ev.height};width={ev.width}\n% end\n"
    return head.encode() + np.asarray(words, "<u2").tobytes()


def encode_dat(ev: EventBatch) -> bytes:
    """DAT 2 of CD events: header, type/size bytes (12, 8), then uint32 t and uint32
    x | y << 14 | p << 28 per event."""
    t, x, y, p = _cols(ev)
    head = f"% Data file containing CD events\n% Version 2\n% Width {ev.width}\n% Height {ev.height}\n"
    records = np.stack([t, x | (y << 14) | (p << 28)], axis=1).astype("<u4")
    return head.encode() + bytes([12, 8]) + records.tobytes()


def encode_es(ev: EventBatch) -> bytes:
    """Event Stream 2.0.0 DVS: 'Event Stream', version, type 1, width, height (uint16), then per
    event 0xFF for every 127 us of time skipped, (dt << 1 | p), x and y (uint16, y up)."""
    out = bytearray(b"Event Stream" + bytes([2, 0, 0, 1]))
    out += np.asarray([ev.width, ev.height], "<u2").tobytes()
    previous = 0
    t, x, y, p = _cols(ev)
    for ti, xi, yi, pi in zip(t.tolist(), x.tolist(), (ev.height - 1 - y).tolist(), p.tolist()):
        dt = ti - previous
        previous = ti
        out += b"\xff" * (dt // 127)
        out += bytes([((dt % 127) << 1) | pi]) + int(xi).to_bytes(2, "little") + int(yi).to_bytes(2, "little")
    return bytes(out)


def encode_csv(ev: EventBatch, header: bool = True) -> bytes:
    rows = "".join(f"{a},{b},{c},{d}\n" for a, b, c, d in zip(*(v.tolist() for v in _cols(ev))))
    return (("t,x,y,p\n" if header else "") + rows).encode()


def encode_aedat2(ev: EventBatch, aps_every: int = 0) -> bytes:
    """jAER AEDAT 2.0 of a DAVIS346: big-endian (address, timestamp) pairs, y counted from the
    bottom; with ``aps_every`` an APS sample record (bit 31 set) after every that many events."""
    t, x, y, p = _cols(ev)
    address = ((ev.height - 1 - y) << 22) | (x << 12) | (p << 11)
    records = np.stack([address, t], axis=1)
    if aps_every:
        after = np.arange(aps_every, len(t), aps_every)
        records = np.insert(records, after, np.stack([np.full(len(after), 1 << 31), t[after - 1]], axis=1), axis=0)
    head = "#!AER-DAT2.0\r\n# This is a raw AE data file\r\n# AEChip: eu.seebetter.ini.chips.davis.Davis346B\r\n"
    return head.encode() + records.astype(">u4").tobytes()


def _packet(kind: int, data: np.ndarray, overflow: int) -> bytes:
    n = len(data)
    head = np.asarray([kind | (1 << 16), 8, 4, overflow, n, n, n], "<i4")  # type and source in the first word
    return head.tobytes() + data.astype("<u4").tobytes()


def encode_aedat31(ev: EventBatch, per_packet: int = 100, source: str = "DAVIS346B") -> bytes:
    """cAER AEDAT 3.1 (``source``: DAVIS346B 346x260, DVXplorer 640x480): polarity packets of
    ``per_packet`` events (a packet never spans a timestamp overflow), each followed by a
    special-event packet to skip."""
    t, x, y, p = _cols(ev)
    head = (f"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: {source}\r\n"
            "#Start-Time: 2024-01-01 00:00:00 (TZ+0000)\r\n#!END-HEADER\r\n").encode()
    out = [head]
    overflow = t >> 31
    cuts = sorted(set(range(0, len(t), per_packet)) | set(np.flatnonzero(np.diff(overflow)) + 1))
    for a, b in zip(cuts, [*cuts[1:], len(t)]):
        data = 1 | (p[a:b] << 1) | (y[a:b] << 2) | (x[a:b] << 17)
        out.append(_packet(1, np.stack([data, t[a:b] & 0x7FFFFFFF], axis=1), int(overflow[a])))
        out.append(_packet(0, np.zeros((1, 2), np.int64), int(overflow[a])))
    return b"".join(out)


def write_hdf5(path: str | Path, ev: EventBatch, layout: str = "events-group", size_attrs: bool = True) -> Path:
    """``ev`` in one of ``HDF5_LAYOUTS`` (see ``hdf5.Hdf5Reader``)."""
    import h5py

    t, x, y, p = _cols(ev)
    with h5py.File(path, "w") as f:
        if layout in ("events-group", "root"):
            group = f.create_group("events") if layout == "events-group" else f
            for name, values, dtype in (("t", t, "<i8"), ("x", x, "<u2"), ("y", y, "<u2"), ("p", p, "u1")):
                group.create_dataset(name, data=values.astype(dtype), chunks=True)
        elif layout == "table":
            table = np.zeros(len(t), [("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "i1")])
            table["t"], table["x"], table["y"], table["p"] = t, x, y, p
            f.create_dataset("events", data=table)
        else:
            f.create_dataset("events", data=np.stack([t, x, y, p], axis=1))
        if size_attrs:
            f.attrs["width"], f.attrs["height"] = ev.width, ev.height
    return Path(path)


ENCODERS = {".raw": encode_evt2, ".dat": encode_dat, ".es": encode_es, ".csv": encode_csv,
            ".aedat": encode_aedat2}


def write_event_file(path: str | Path, ev: EventBatch) -> Path:
    """``ev`` written in the format of ``path``'s suffix (.raw: EVT 2.0; .h5: events group)."""
    path = Path(path)
    if path.suffix in (".h5", ".hdf5"):
        return write_hdf5(path, ev)
    path.write_bytes(ENCODERS[path.suffix](ev))
    return path
