"""Checks an .aedat4 file packet by packet BEFORE dv-processing decodes any of it.

Why: dv-processing 2.0.4 spins forever inside ``getNextEventBatch`` / ``getEventsTimeRange`` /
its constructor on a packet whose LZ4 data does not decompress (or on a damaged data table),
while holding the GIL: the whole process freezes, Ctrl+C included. Other damage decodes to
garbage events (``IndexError: ... out of order``, timestamps far in the future). So we walk the
file ourselves first and find the first damaged packet; the reader then lets dv see only the
packets before it (``r2etl_core.io.dv.checked``).

AEDAT 4 layout (dv-processing's writer; the ``aedat`` crate parses it the same way):
``#!AER-DAT4.0\\r\\n``, int32 size + flatbuffer ``IOHeader`` (compression, data-table position,
XML description of the streams), then packets, each int32 stream id + int32 size + that many
bytes of a compressed, size-prefixed flatbuffer, then (optionally) the data table: one
compressed, size-prefixed ``FTAB`` flatbuffer up to the end of the file, one entry per packet.

Only event packets are decompressed and checked in depth (dv skips the other streams when it
reads events: a damaged frame packet reads fine); every packet's framing is checked.
"""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable

import lz4.frame
import numpy as np
import zstandard

from r2etl_core.io.dv._flatbuf import Bad, field_at, fields_of, size_prefixed_root, unpack, vector_of

MAGIC = b"#!AER-DAT4.0\r\n"
_LZ4_MAGIC = b"\x04\x22\x4d\x18"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_HEADER_START = len(MAGIC) + 4  # the IOHeader flatbuffer follows magic + int32 size
_MAX_HEADER_BYTES = 16 << 20
_EVENT_BYTES = 16  # struct Event {t: int64; x: int16; y: int16; on: bool}, padded by flatbuffers


# lz4 raises RuntimeError; a damaged frame header may ask for an impossible output size
_DECODE_ERRORS = (Bad, RuntimeError, ValueError, OverflowError, MemoryError, zstandard.ZstdError)


@dataclass(frozen=True)
class Stream:
    kind: str  # the flatbuffer identifier of its packets: EVTS, FRME, IMUS, TRIG, ...
    width: int = 0  # 0 when the description does not say
    height: int = 0


@dataclass(frozen=True)
class Damage:
    offset: int  # where the first damaged packet (or the data table) starts
    problem: str


@dataclass
class Scan:
    """What the walk over one file found. ``good_end`` is where the readable packets end."""

    file_size: int
    compression: int  # IOHeader's: 0 none, 1/2 LZ4, 3/4 zstd
    header_end: int
    table_position: int  # -1: the file has no data table
    table_field_at: int | None  # file offset of the header's table-position field (for patching)
    streams: dict[int, Stream]
    good_end: int = 0
    damage: Damage | None = None
    packets: dict[int, tuple[int, int]] = field(default_factory=dict)  # offset -> (stream, size)
    event_times: dict[int, tuple[int, int]] = field(default_factory=dict)  # offset -> first, last t


# ---------------------------------------------------------------- header

def _decompressor(code: int) -> Callable[[bytes], bytes]:
    def zstd(data: bytes) -> bytes:
        out = zstandard.ZstdDecompressor().decompressobj()
        result = out.decompress(data)
        if not out.eof or out.unused_data:
            raise Bad("the zstd frame does not fill its packet")
        return result

    known = {0: bytes, 1: lz4.frame.decompress, 2: lz4.frame.decompress, 3: zstd, 4: zstd}
    if code not in known:
        raise Bad(f"unknown compression {code}")
    return known[code]


def _streams(description: str) -> dict[int, Stream]:
    """Stream id -> Stream from the header's XML (``outInfo/<id>/typeIdentifier``, ``info/sizeX``)."""
    try:
        root = ET.fromstring(description)
    except ET.ParseError as exc:
        raise Bad(f"stream description is not valid XML ({exc})") from None
    out_info = next((n for n in root.iter("node") if n.get("name") == "outInfo"), None)
    streams = {}
    for node in out_info if out_info is not None else []:
        attrs = {a.get("key"): (a.text or "") for a in node.iter("attr")}
        if not node.get("name", "").isdigit() or "typeIdentifier" not in attrs:
            raise Bad("stream description is malformed")
        size = [int(attrs[k]) if attrs.get(k, "").isdigit() else 0 for k in ("sizeX", "sizeY")]
        streams[int(node.get("name"))] = Stream(attrs["typeIdentifier"], size[0], size[1])
    if not streams:
        raise Bad("stream description lists no streams")
    return streams


def read_header(f: BinaryIO, file_size: int) -> tuple[Scan, Callable[[bytes], bytes]]:
    """The header as a fresh Scan plus the packets' decompressor; ``Bad`` when damaged,
    ``EOFError`` when the file ends inside it."""
    head = f.read(_HEADER_START)
    if len(head) < _HEADER_START:
        raise EOFError
    if not head.startswith(MAGIC):
        raise Bad("no '#!AER-DAT4.0\\r\\n' at the start")
    size = struct.unpack_from("<i", head, len(MAGIC))[0]
    if not 0 < size <= _MAX_HEADER_BYTES:
        raise Bad(f"impossible header size {size}")
    if _HEADER_START + size > file_size:
        raise EOFError
    buf = f.read(size)
    root = unpack("<I", buf, 0)
    fields = fields_of(buf, root)
    compression = unpack("<i", buf, fields[0]) if field_at(fields, 0) else 0
    table_at = field_at(fields, 1) or None
    table = unpack("<q", buf, table_at) if table_at else -1
    header_end = _HEADER_START + size
    if table != -1 and table < header_end:
        raise Bad(f"impossible data-table position {table}")
    if not field_at(fields, 2):
        raise Bad("no stream description")
    start, length = vector_of(buf, fields[2], 1)
    try:
        description = buf[start:start + length].decode("utf-8")
    except UnicodeDecodeError:
        raise Bad("stream description is not text") from None
    decompress = _decompressor(compression)
    scan = Scan(file_size, compression, header_end, table, _HEADER_START + table_at if table_at else None,
                _streams(description))
    return scan, decompress


# ---------------------------------------------------------------- packets

def _check_events(data: bytes, stream: Stream, previous_t: int | None) -> tuple[int, int] | None:
    """(first, last) timestamp of a decompressed event packet (None when empty); ``Bad`` when
    its events cannot be what a camera recorded: out of time order or off the sensor."""
    buf, root = size_prefixed_root(data, b"EVTS")
    elements = field_at(fields_of(buf, root), 0)
    if not elements:
        return None
    start, count = vector_of(buf, elements, _EVENT_BYTES)
    if count == 0:
        return None
    t = np.frombuffer(buf, "<i8", 2 * count, start)[::2]  # events are 16 bytes, t first
    if (count > 1 and not (t[1:] >= t[:-1]).all()) or (previous_t is not None and int(t[0]) < previous_t):
        raise Bad("events out of time order")
    # x and y read as unsigned, so that a negative one is too big as well; one strided max
    # each (a 2-D max over axis 0 is many times slower on these shapes)
    u16 = np.frombuffer(buf, "<u2", 8 * count, start)
    if stream.width and stream.height and (int(u16[4::8].max()) >= stream.width
                                           or int(u16[5::8].max()) >= stream.height):
        raise Bad(f"events outside the {stream.width}x{stream.height} sensor")
    if int(np.frombuffer(buf, np.uint8, _EVENT_BYTES * count, start)[12::16].max()) > 1:
        raise Bad("polarity neither ON nor OFF")
    return int(t[0]), int(t[-1])


def _framing_problem(compression: int, payload_head: bytes, payload_tail: bytes, size: int) -> str | None:
    """Does the packet's compressed data start and end where its size says? A damaged size
    field shows here, at its own packet, instead of as garbage somewhere after it."""
    if compression in (1, 2):
        if payload_head[:4] != _LZ4_MAGIC or len(payload_head) < 5:
            return "no LZ4 frame where a packet starts"
        has_checksum = payload_head[4] & 0x04  # content checksum: 4 more bytes after the end mark
        if (payload_tail[-8:-4] if has_checksum else payload_tail[-4:]) != bytes(4):
            return "no LZ4 end mark where the packet ends (damaged size?)"
    elif compression in (3, 4):
        if payload_head[:4] != _ZSTD_MAGIC:
            return "no zstd frame where a packet starts"
    elif len(payload_head) < 4 or struct.unpack_from("<I", payload_head)[0] != size - 4:
        return "a packet whose size does not match its data"
    return None


def _walk_packets(f: BinaryIO, scan: Scan, decompress: Callable[[bytes], bytes], end: int) -> None:
    """Check packets from the header to ``end``; stops at (and records) the first damaged one."""
    pos, last_t = scan.header_end, {}
    f.seek(pos)
    while pos < end:
        scan.good_end = pos
        head = f.read(8)
        if pos + 8 > end or len(head) < 8:
            raise _Stop(pos, "the data ends inside a packet header")
        stream_id, size = struct.unpack("<ii", head)
        stream = scan.streams.get(stream_id)
        if stream is None:
            raise _Stop(pos, f"a packet of unknown stream {stream_id}")
        if size < 8:
            raise _Stop(pos, f"a packet of impossible size {size}")
        if pos + 8 + size > end:
            raise _Stop(pos, "the file ends inside a packet" if end == scan.file_size
                        else "a packet runs into the data table (damaged size?)")
        if stream.kind == "EVTS":
            payload = f.read(size)
            payload_head, payload_tail = payload[:8], payload[-8:]
        else:
            payload_head = f.read(8)
            f.seek(pos + size)  # the last 8 bytes of the payload
            payload_tail = f.read(8)
        if problem := _framing_problem(scan.compression, payload_head, payload_tail, size):
            raise _Stop(pos, problem)
        if stream.kind == "EVTS":
            try:
                times = _check_events(decompress(payload), stream, last_t.get(stream_id))
            except _DECODE_ERRORS as exc:
                raise _Stop(pos, f"a damaged event packet ({_short(exc)})") from None
            if times:
                scan.event_times[pos] = times
                last_t[stream_id] = times[1]
        scan.packets[pos] = (stream_id, size)
        pos += 8 + size
    scan.good_end = pos


class _Stop(Exception):
    def __init__(self, offset: int, problem: str):
        super().__init__(problem)
        self.damage = Damage(offset, problem)


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__


# ---------------------------------------------------------------- data table

def _check_table(f: BinaryIO, scan: Scan, decompress: Callable[[bytes], bytes]) -> None:
    """Every entry of the data table must describe one of the packets just checked: dv trusts
    it for seeking (and a table that does not decompress freezes dv's constructor)."""
    f.seek(scan.table_position)
    try:
        buf, root = size_prefixed_root(decompress(f.read()), b"FTAB")
    except _DECODE_ERRORS as exc:
        raise Bad(_short(exc)) from None
    entries = field_at(fields_of(buf, root), 0)
    start, count = vector_of(buf, entries, 4) if entries else (0, 0)
    layouts: dict[int, tuple[int, ...]] = {}  # vtable -> field offsets: entries share a few
    for i, rel in enumerate(np.frombuffer(buf, "<u4", count, start).tolist()):
        table = start + 4 * i + rel
        vtable = table - unpack("<i", buf, table)
        if (fields := layouts.get(vtable)) is None:
            fields = layouts[vtable] = tuple(f - table if f else 0 for f in fields_of(buf, table)) + (0,) * 5
        offset, info, _, t_start, t_end = fields[:5]
        if not (offset and info):
            raise Bad(f"entry {i} names no packet")
        packet = unpack("<q", buf, table + offset) - 8  # it points past the packet's 8-byte header
        if scan.packets.get(packet) != (unpack("<i", buf, table + info), unpack("<i", buf, table + info + 4)):
            raise Bad(f"entry {i} points to no packet")
        times = scan.event_times.get(packet)  # writers that omit the times (trimmed copies) pass
        if times and (t_start or t_end) and times != (_table_time(buf, table, t_start), _table_time(buf, table, t_end)):
            raise Bad(f"entry {i} has the wrong time range")


def _table_time(buf, table: int, offset: int) -> int:
    return unpack("<q", buf, table + offset) if offset else 0


# ---------------------------------------------------------------- the whole file

def scan_file(path: Path) -> Scan:
    """Walk ``path``; ``Bad``/``EOFError`` when its header is unusable, else a Scan whose
    ``damage`` is the first damaged packet (or data table), None for a sound file."""
    file_size = path.stat().st_size
    with open(path, "rb") as f:
        scan, decompress = read_header(f, file_size)
        has_table = 0 <= scan.table_position < file_size
        try:
            _walk_packets(f, scan, decompress, scan.table_position if has_table else file_size)
        except _Stop as stop:
            scan.damage = stop.damage
            return scan
        if scan.table_position >= file_size:
            scan.damage = Damage(file_size, "the file ends before its data table")
        elif has_table:
            try:
                _check_table(f, scan, decompress)
            except Bad as exc:
                scan.damage = Damage(scan.table_position, f"damaged data table: {exc}")
    return scan
