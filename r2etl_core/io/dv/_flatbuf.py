"""Bounds-checked reads of flatbuffers (the tables inside AEDAT 4 packets), for the guard.

Every offset is checked against the buffer, so a damaged packet raises ``Bad`` instead of
reading garbage or running past the end.
"""

from __future__ import annotations

import struct


class Bad(Exception):
    """One structure of the file is not what dv-processing wrote; the message says what."""


_STRUCTS = {fmt: struct.Struct(fmt) for fmt in ("<i", "<I", "<H", "<q")}  # precompiled: called per field


def unpack(fmt: str, buf: bytes, at: int):
    """One little-endian scalar of ``buf`` at ``at``; ``fmt`` is one of ``_STRUCTS``."""
    packer = _STRUCTS[fmt]
    if at < 0 or at + packer.size > len(buf):
        raise Bad("an offset points outside its packet")
    return packer.unpack_from(buf, at)[0]


def fields_of(buf: bytes, table: int) -> list[int]:
    """Absolute positions of a table's fields (0: absent), from its vtable."""
    vtable = table - unpack("<i", buf, table)
    size = unpack("<H", buf, vtable)
    if size < 4 or size % 2:
        raise Bad("a flatbuffer vtable is malformed")
    return [(table + off) if (off := unpack("<H", buf, vtable + 4 + 2 * i)) else 0
            for i in range((size - 4) // 2)]


def field_at(fields: list[int], index: int) -> int:
    return fields[index] if index < len(fields) else 0


def vector_of(buf: bytes, at: int, item_size: int) -> tuple[int, int]:
    """(start of the elements, count) of the vector referenced at ``at``."""
    start = at + unpack("<I", buf, at)
    count = unpack("<I", buf, start)
    if start + 4 + count * item_size > len(buf):
        raise Bad("a vector runs past the end of its packet")
    return start + 4, count


def size_prefixed_root(data: bytes, identifier: bytes) -> tuple[bytes, int]:
    """The flatbuffer inside a decompressed packet and its root table position."""
    if len(data) < 12 or unpack("<I", data, 0) != len(data) - 4:
        raise Bad("the decompressed size does not match the declared size")
    if data[8:12] != identifier:
        raise Bad(f"{identifier.decode()} data expected, found {bytes(data[8:12])!r}")
    buf = memoryview(data)[4:]
    return buf, unpack("<I", buf, 0)
