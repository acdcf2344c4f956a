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


def check_device(requested: str | None, name: str = "--device") -> str | None:
    """``cpu``, ``cuda`` or ``cuda:N`` that exists here (None: CUDA when present, else CPU);
    else an InputError naming ``name`` (the flag or config key)."""
    if requested is None:
        return None
    text = requested.strip().lower()
    if text == "cpu":
        return text
    match = re.fullmatch(r"cuda(?::(\d+))?", text)
    if not match:
        raise InputError(name, f"'{requested}' is not a device: use cpu, cuda or cuda:N")
    if not cuda_available():
        raise InputError(name, f"{requested}: no CUDA GPU is available on this machine "
                               "(use --device cpu, or leave it out)")
    import torch

    index, count = int(match.group(1) or 0), torch.cuda.device_count()
    if index >= count:
        raise InputError(name, f"{requested}: only {count} CUDA device(s) here (cuda:0 .. cuda:{count - 1})")
    return text


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters: an error message stays one short line even
    when the bad value is a 200,000-character field or a 5000-digit number."""
    try:
        text = repr(value)
    except ValueError:  # int with more digits than Python will print
        text = f"<a {type(value).__name__} too long to show>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def brief(exc: BaseException, limit: int = 160) -> str:
    """First line of an exception's message, cut to ``limit`` characters (library messages can
    span lines or quote a whole bad input)."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def check_whole(name: str, value: object, low: int, high: int, unit: str = "") -> int:
    """``value`` as an int if it is a whole number within ``[low, high]`` (JSON/TOML may give
    ``34.0``, a string or a bool); else an InputError naming ``name`` and the range."""
    whole = (isinstance(value, int) and not isinstance(value, bool)) or \
        (isinstance(value, float) and math.isfinite(value) and value.is_integer())
    if not (whole and low <= value <= high):
        unit = f" {unit}" if unit else ""
        raise InputError(name, f"must be a whole number between {low:,} and {high:,}{unit}, got {shown(value)}")
    return int(value)


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``; else an InputError listing them."""
    if not isinstance(value, str) or value not in choices:
        raise InputError(name, f"must be one of {', '.join(choices)}, got {shown(value)}")
    return value


def cuda_available() -> bool:
    """``torch.cuda.is_available()`` without its warnings: a CUDA build of torch on a machine
    without a working driver warns on stderr before our own one-line error would follow."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bool(torch.cuda.is_available())
