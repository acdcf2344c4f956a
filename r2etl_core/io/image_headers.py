"""What an image file says about itself, read before OpenCV decodes it.

Why: a PNG whose header says 65535 x 65535 makes OpenCV ask for 12 GB (or raise its own
traceback), and a JPEG cut short decodes "fine" with a libjpeg warning on stderr and grey rows
at the bottom, which training would then learn from. Both are refused here with one line.
"""

from __future__ import annotations

import struct
from pathlib import Path

from r2etl_core.errors import InputError

MAX_IMAGE_PIXELS = 50_000_000  # 50 megapixels: larger than any camera photo worth resizing to 34 px
_PNG = b"\x89PNG\r\n\x1a\n"
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first start-of-frame marker, walking the marker segments."""
    pos = 2
    while pos + 9 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return width, height
        pos += 2 + length
    return None


def image_size(path: Path, head: bytes) -> tuple[int, int] | None:
    """(width, height) the header of a PNG or JPEG states (None: not one, or unreadable)."""
    if head.startswith(_PNG) and len(head) >= 24 and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    if head.startswith(b"\xff\xd8"):
        return _jpeg_size(head)
    return None


def check_image_file(path: Path, max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    """InputError naming ``path`` when its header states more than ``max_pixels`` pixels, or when
    a JPEG lacks its end marker (cut short: it would decode with grey rows)."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)  # JPEG headers with big EXIF blocks put the frame marker late
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - 64))
        tail = f.read()
    found = image_size(path, head)
    if found is not None and found[0] * found[1] > max_pixels:
        raise InputError(path, f"the image header says {found[0]}x{found[1]} pixels, more than the "
                               f"{max_pixels:,} allowed (a damaged file, or a picture to shrink first)")
    if head.startswith(b"\xff\xd8") and b"\xff\xd9" not in tail.rstrip(b"\x00\n\r "):
        raise InputError(path, "truncated JPEG (it ends before its end marker): replace or remove it")
