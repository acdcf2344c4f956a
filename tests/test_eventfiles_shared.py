"""The new readers on the real files in ../shared/data/recordings, each cross-checked against an
independent decode written here from the format's published description (plain numpy or
Python, no faery): every event equal, and the counts the shared README pins.

Skips with a reason when ../shared is absent.
"""

from __future__ import annotations

import numpy as np
import pytest

from r2etl_core.errors import InputError
from r2etl_core.io.eventfiles import event_file_info, open_event_file, read_event_file
from r2etl_core.stream.sources import FileSource, open_source

pytestmark = pytest.mark.shared


def _after_percent_header(raw: bytes) -> int:
    pos = 0
    while raw[pos:pos + 1] == b"%":
        pos = raw.index(b"\n", pos) + 1
    return pos


def decode_evt2(raw: bytes) -> np.ndarray:
    """EVT 2.0: 32-bit little-endian words, type in the top 4 bits; TIME_HIGH (8) carries t >> 6,
    CD_OFF (0) / CD_ON (1) carry t & 63 (bits 22-27), x (bits 11-21) and y (bits 0-10)."""
    words = np.frombuffer(raw[_after_percent_header(raw):], "<u4").astype(np.int64)
    kind = words >> 28
    high = np.where(kind == 8, words & 0x0FFFFFFF, -1)
    seen = np.maximum.accumulate(np.where(high >= 0, np.arange(len(words)), 0))
    high = high[seen]  # the latest TIME_HIGH before each word
    cd = kind <= 1
    t = (high[cd] << 6) | ((words[cd] >> 22) & 63)
    return np.stack([t, (words[cd] >> 11) & 0x7FF, words[cd] & 0x7FF, kind[cd]], axis=1)


def decode_dat(raw: bytes) -> np.ndarray:
    """DAT: '%' header, 2 bytes (type, size), then uint32 t and uint32 x | y << 14 | p << 28."""
    data = np.frombuffer(raw[_after_percent_header(raw) + 2:], "<u4").reshape(-1, 2).astype(np.int64)
    word = data[:, 1]
    return np.stack([data[:, 0], word & 0x3FFF, (word >> 14) & 0x3FFF, (word >> 28) & 0xF], axis=1)


def decode_es_dvs(raw: bytes) -> tuple[np.ndarray, int, int]:
    """Event Stream 2 DVS: 'Event Stream', 3 version bytes, type 1, uint16 width and height;
    then 0xFF = 127 us pass, else a byte (dt << 1 | polarity) + uint16 x + uint16 y (y up)."""
    assert raw[:12] == b"Event Stream" and raw[15] == 1
    width, height = int.from_bytes(raw[16:18], "little"), int.from_bytes(raw[18:20], "little")
    out, t, i = [], 0, 20
    while i < len(raw):
        b = raw[i]
        if b == 0xFF:
            t, i = t + 127, i + 1
            continue
        t += b >> 1
        out.append((t, raw[i + 1] | raw[i + 2] << 8, height - 1 - (raw[i + 3] | raw[i + 4] << 8), b & 1))
        i += 5
    return np.asarray(out, np.int64), width, height


def as_rows(events) -> np.ndarray:
    return np.stack([events.t, events.x, events.y, events.p], axis=1).astype(np.int64)


def test_evt2_raw_equals_an_independent_decode(shared_data):
    path = shared_data / "recordings" / "prophesee-evt2.raw"
    expected = decode_evt2(path.read_bytes())
    events = read_event_file(path)
    assert len(events) == len(expected) == 521_252  # the shared README's count
    assert np.array_equal(as_rows(events), expected)
    assert tuple(expected[0]) == (913_716_224, 35, 443, 1) and tuple(expected[-1]) == (913_812_095, 12, 471, 0)
    info = event_file_info(path)
    assert (info.width, info.height, info.size_inferred) == (640, 480, False)  # Gen3 VGA, from its header
    assert info.format == "Prophesee RAW (EVT 2.0)" and info.event_count == 521_252


def test_es_equals_an_independent_decode(shared_data):
    path = shared_data / "recordings" / "dvs-320x240.es"
    expected, width, height = decode_es_dvs(path.read_bytes())
    events = read_event_file(path)
    assert len(events) == len(expected) == 473_225
    assert np.array_equal(as_rows(events), expected)
    assert tuple(expected[0]) == (0, 0, 0, 1) and tuple(expected[-1]) == (999_000, 38, 193, 1)
    assert (events.width, events.height) == (width, height) == (320, 240)


def test_dat_equals_an_independent_decode(shared_data):
    path = shared_data / "recordings" / "ncars-atis.dat"
    expected = decode_dat(path.read_bytes())
    events = read_event_file(path)
    assert len(events) == len(expected) == 2_009
    assert np.array_equal(as_rows(events), expected)
    assert tuple(expected[0]) == (0, 25, 8, 0) and tuple(expected[-1]) == (99_952, 75, 28, 1)
    info = event_file_info(path)  # an N-CARS crop: its header states no size
    assert info.size_inferred and (info.width, info.height) == (128, 128)


def test_aedat2_header_only_is_one_line_naming_the_file(shared_data):
    path = shared_data / "recordings" / "aedat2-header-only.aedat"
    with pytest.raises(InputError) as err:
        open_source(str(path))
    assert err.value.where == str(path) and "AEDAT 2.0 file holds no events" in str(err.value)


@pytest.mark.parametrize("name,count", [("prophesee-evt2.raw", 521_252), ("dvs-320x240.es", 473_225),
                                        ("ncars-atis.dat", 2_009)])
def test_replay_and_seek_of_shared_files(shared_data, name, count):
    path = shared_data / "recordings" / name
    src = FileSource(path, speed=None)
    assert src.info.event_count == count
    assert sum(len(b) for b in src.batches()) == count
    reader = open_event_file(path)
    middle = reader.info.t_first_us + reader.info.duration_us // 2
    after = [b for b in reader.batches(middle)]
    all_t = read_event_file(path).t
    assert after[0].t_first_us >= middle and sum(len(b) for b in after) == int((all_t >= middle).sum())
