"""One parser per kind of user input: HOST:PORT, replay speed, slice length, bounded numbers.

Used by both command lines and the viewer's dialogs, so a value means the same everywhere.
Each raises ``InputError`` naming the input and the allowed range.
"""

from __future__ import annotations

import math
import re

from r2etl_core.errors import InputError

SPEED_MIN, SPEED_MAX = 0.1, 10.0
SLICE_US_MIN, SLICE_US_MAX = 100, 10_000_000  # 0.1 ms .. 10 s
_HOST_PORT = re.compile(r"^(?:tcp://)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.\-]+):(\d+)$")
_UNPACED = ("max", "unpaced")


def looks_like_host_port(text: str) -> bool:
    return bool(_HOST_PORT.match(str(text).strip()))


def parse_host_port(spec: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``tcp://HOST:PORT`` (IPv6 as ``[::1]:PORT``) -> (host, port)."""
    match = _HOST_PORT.match(str(spec).strip())
    port = int(match.group(2)) if match else 0
    if not match or not 0 < port < 65536:
        raise InputError(spec, "expected HOST:PORT with a port 1-65535, e.g. 127.0.0.1:7777")
    return match.group(1).strip("[]"), port


def check_speed(speed: float | None) -> float | None:
    """None = unpaced (as fast as the consumer takes it); else a factor on real time."""
    if speed is None:
        return None
    value = float(speed)
    if not (math.isfinite(value) and SPEED_MIN <= value <= SPEED_MAX):
        raise InputError("speed", f"must be between {SPEED_MIN} and {SPEED_MAX} (or 'max' for "
                                  f"unpaced), got {speed}")
    return value


def parse_speed(text: str) -> float | None:
    """``"0.5"``, ``"2x"`` or ``"max"`` -> a checked speed (None: unpaced)."""
    clean = str(text).strip().lower()
    if clean in _UNPACED:
        return None
    clean = clean.removesuffix("x")
    try:
        value = float(clean)
    except ValueError:
        raise InputError("speed", f"'{text}' is not a speed ({SPEED_MIN} .. {SPEED_MAX}, "
                                  "or 'max')") from None
    return check_speed(value)


def check_number(name: str, value: float, low: float, high: float, unit: str = "") -> float:
    """``value`` if finite and within ``[low, high]``, else an InputError naming ``name``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and low <= number <= high):
        unit = f" {unit}" if unit else ""
        raise InputError(name, f"must be between {low:g} and {high:g}{unit}, got {value}")
    return number


def check_slice_us(value: float, name: str = "--slice-us") -> int:
    """A slice length in microseconds, 0.1 ms .. 10 s."""
    return int(check_number(name, value, SLICE_US_MIN, SLICE_US_MAX, "us"))


def check_device(requested: str | None) -> str | None:
    """``cpu``, ``cuda`` or ``cuda:N`` that exists here (None: CUDA when present, else CPU)."""
    if requested is None:
        return None
    text = requested.strip().lower()
    if text == "cpu":
        return text
    match = re.fullmatch(r"cuda(?::(\d+))?", text)
    if not match:
        raise InputError("--device", f"'{requested}' is not a device: use cpu, cuda or cuda:N")
    import torch

    if not torch.cuda.is_available():
        raise InputError("--device", f"{requested}: no CUDA GPU is available on this machine "
                                     "(use --device cpu, or leave it out)")
    index = int(match.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise InputError("--device", f"{requested}: only {torch.cuda.device_count()} CUDA device(s) here")
    return text
