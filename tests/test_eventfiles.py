"""Readers of the other event formats on synthetic files written by ``io.eventfiles.synthetic``
(numpy encoders from the formats' published descriptions, independent of faery): every event
back, sensor size from the file, seeking, and every failure as one line naming the file."""

from __future__ import annotations

from pathlib import Path

import faery
import numpy as np
import pytest

from r2etl_core.protocols import SEEK
from r2etl_core.errors import InputError
from r2etl_core.io.eventfiles import event_file_info, open_event_file, read_event_file
from r2etl_core.io.eventfiles import synthetic as syn
from r2etl_core.io.eventfiles._base import native_guard
from r2etl_core.stream.sources import FileSource, open_source
from r2etl_core.types import EventBatch
from scripts.synthetic_events import random_events

EVENTS = random_events(4000, width=346, height=260, duration_us=2_000_000, t0_us=5_000, seed=7)
WRITERS = {
    "evt2.raw": syn.encode_evt2, "evt3.raw": syn.encode_evt3, "dat2.dat": syn.encode_dat, "dvs.es": syn.encode_es,
    "header.csv": syn.encode_csv, "plain.csv": lambda ev: syn.encode_csv(ev, header=False),
    "davis.aedat": lambda ev: syn.encode_aedat2(ev, aps_every=7), "cAER31.aedat": syn.encode_aedat31,
}
FORMATS = {"evt2.raw": "Prophesee RAW (EVT 2.0)", "evt3.raw": "Prophesee RAW (EVT 3.0)",
           "dat2.dat": "Prophesee DAT (DAT2, CD events)", "dvs.es": "Event Stream (DVS)", "header.csv": "CSV",
           "plain.csv": "CSV", "davis.aedat": "jAER AEDAT 2.0", "cAER31.aedat": "cAER AEDAT 3.1"}


def write(tmp_path: Path, name: str, events: EventBatch = EVENTS) -> Path:
    path = tmp_path / name
    if name.endswith(".h5"):
        return syn.write_hdf5(path, events, name.split(".")[0])
    path.write_bytes(WRITERS[name](events))
    return path


def same_events(a: EventBatch, b: EventBatch) -> bool:
    return len(a) == len(b) and all(np.array_equal(getattr(a, k), getattr(b, k)) for k in "txyp")


ALL = [*WRITERS, *(f"{layout}.h5" for layout in syn.HDF5_LAYOUTS)]


@pytest.mark.parametrize("name", ALL)
def test_every_event_comes_back_with_the_sensor_size(tmp_path, name):
    path = write(tmp_path, name)
    events = read_event_file(path)
    assert same_events(events, EVENTS)
    info = event_file_info(path)
    assert (info.width, info.height) == (346, 260)
    assert (info.t_first_us, info.t_last_us, info.event_count) == (EVENTS.t_first_us, EVENTS.t_last_us, 4000)
    assert info.format.startswith(FORMATS.get(name, "HDF5"))
    assert info.size_inferred == name.endswith(".csv")  # CSV states no size: the DAVIS346 fits


@pytest.mark.parametrize("name", ALL)
def test_batches_from_a_time_start_there(tmp_path, name):
    reader = open_event_file(write(tmp_path, name))
    start = int(EVENTS.t[2345])
    got = EventBatch.concat(list(reader.batches(start)), 346, 260)
    reader.close()
    assert same_events(got, EVENTS.select(EVENTS.t >= start))


def test_sizes_come_from_the_file(tmp_path):
    small = random_events(500, width=34, height=34, seed=1)
    (tmp_path / "faery.csv").write_bytes(b"t,x@640,y@480,on\n" + syn.encode_csv(small, header=False))
    assert event_file_info(tmp_path / "faery.csv").width == 640  # faery's own CSV header states it
    (tmp_path / "small.raw").write_bytes(syn.encode_evt3(EventBatch(small.t, small.x, small.y, small.p, 1280, 720)))
    hd = event_file_info(tmp_path / "small.raw")
    assert (hd.width, hd.height) == (1280, 720)
    syn.write_hdf5(tmp_path / "bare.h5", small, "root", size_attrs=False)
    info = event_file_info(tmp_path / "bare.h5")
    assert (info.width, info.height, info.size_inferred) == (34, 34, True)
    gen3 = syn.encode_evt2(small, header="% evt 2.0\n% plugin_name hal_plugin_gen3_fx3\n")
    (tmp_path / "gen3.raw").write_bytes(gen3)
    assert (event_file_info(tmp_path / "gen3.raw").width, event_file_info(tmp_path / "gen3.raw").size_inferred) \
        == (640, False)


def test_csv_stating_its_size_opens_without_a_scan_and_checks_while_reading(tmp_path):
    rows = syn.encode_csv(EVENTS, header=False).splitlines(keepends=True)
    path = tmp_path / "sized.csv"
    path.write_bytes(b"t,x@346,y@260,p\n" + b"".join(rows))
    info = event_file_info(path)
    assert (info.t_first_us, info.t_last_us, info.event_count, info.size_inferred) == \
        (EVENTS.t_first_us, EVENTS.t_last_us, None, False)
    assert same_events(read_event_file(path), EVENTS)
    rows[3000] = b"%d,400,7,1\n" % EVENTS.t[3000]  # beyond the stated 346 columns
    path.write_bytes(b"t,x@346,y@260,p\n" + b"".join(rows))
    reader = open_event_file(path)  # opens: the damage is found while reading, as in a damaged .aedat4
    with pytest.raises(InputError, match=r"sized.csv: corrupt or unreadable CSV event file \(x overflow \(x=400"):
        list(reader.batches())


def test_csv_without_a_size_is_parsed_once(tmp_path):
    """The opening scan's rows are kept on disk (spill.py): reads and seeks never parse the text
    again, so a file replaced after opening still replays what was opened."""
    path = write(tmp_path, "plain.csv")
    reader = open_event_file(path)
    path.write_bytes(b"t,x,y,p\n1,2,3,1\n")
    assert same_events(EventBatch.concat(list(reader.batches()), 346, 260), EVENTS)
    start = int(EVENTS.t[1234])
    assert same_events(EventBatch.concat(list(reader.batches(start)), 346, 260), EVENTS.select(EVENTS.t >= start))
    reader.close()
    assert reader._spill._file.closed


def test_aedat31_timestamps_past_2_31_us_use_the_packet_overflow(tmp_path):
    late = random_events(3000, width=346, height=260, duration_us=4_000_000, t0_us=(1 << 31) - 2_000_000, seed=3)
    path = tmp_path / "late.aedat"
    path.write_bytes(syn.encode_aedat31(late, per_packet=250))
    assert same_events(read_event_file(path), late)


@pytest.mark.parametrize("header", [b"% evt 2.1\n% end\n", b"% format EVT21;height=480;width=640\n% end\n"])
def test_evt21_is_one_line_naming_the_file(tmp_path, header):
    path = tmp_path / "new.raw"
    path.write_bytes(header + bytes(64))
    with pytest.raises(InputError) as err:
        open_source(str(path))
    assert err.value.where == str(path) and "EVT 2.1 .raw files are not supported" in str(err.value)
    assert "\n" not in str(err.value)


def test_a_faery_panic_becomes_an_input_error(tmp_path):
    """faery panics on EVT 2.1 with a BaseException that ``except Exception`` misses."""
    path = tmp_path / "evt21.raw"
    path.write_bytes(b"% evt 2.1\n" + bytes(64))
    with pytest.raises(BaseException) as raw:
        list(faery.events_stream_from_file(path, dimensions_fallback=(640, 480)))
    assert not isinstance(raw.value, Exception)  # the fact the guard exists for
    with pytest.raises(InputError, match="evt21.raw: corrupt or unreadable RAW file"):
        with native_guard(path, "RAW file"):
            list(faery.events_stream_from_file(path, dimensions_fallback=(640, 480)))
    with pytest.raises(KeyboardInterrupt):  # Ctrl+C still stops a long read
        with native_guard(path, "RAW file"):
            raise KeyboardInterrupt


def test_time_going_backwards_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr("r2etl_core.io.eventfiles.hdf5.CHUNK_EVENTS", 1000)
    t = EVENTS.t.copy()
    t[3000] = t[2999] - 5  # first of the fourth chunk: the check spans chunk edges too
    syn.write_hdf5(tmp_path / "unsorted.h5", EventBatch(t, EVENTS.x, EVENTS.y, EVENTS.p, 346, 260), "table")
    with pytest.raises(InputError, match=rf"unsorted.h5: timestamps go backwards at event 3,000 "
                                         rf"\({t[3000]} us after {t[2999]} us\)"):
        open_event_file(tmp_path / "unsorted.h5")


def test_faery_clamps_csv_time_going_backwards(tmp_path):
    """A fact of faery 0.7.1 (documented in faery_files): an earlier timestamp in a CSV file
    becomes the previous one, so such a file plays instead of being refused."""
    (tmp_path / "unsorted.csv").write_text("t,x,y,p\n10,1,1,1\n20,2,2,0\n15,3,3,1\n")
    assert read_event_file(tmp_path / "unsorted.csv").t.tolist() == [10, 20, 20]


def test_an_event_outside_the_stated_sensor_is_named(tmp_path):
    wide = EventBatch(EVENTS.t, EVENTS.x, EVENTS.y, EVENTS.p, 200, 260)  # x up to 345 in a 200-wide file
    path = tmp_path / "wide.dat"
    path.write_bytes(syn.encode_dat(wide))
    with pytest.raises(InputError, match="wide.dat: "):
        open_event_file(path)


def damaged(good: bytes, name: str) -> dict[str, bytes]:
    rng = np.random.default_rng(len(name))
    return {"random": rng.bytes(3000), "zeros": bytes(4096), "header-only": good[:40],
            "flipped": bytes(b ^ 0x5A if i % 89 == 0 and i > 90 else b for i, b in enumerate(good))}


@pytest.mark.parametrize("name", ALL)
def test_damaged_files_end_in_one_line_naming_the_file(tmp_path, name):
    """Random bytes, zeros, a cut header, flipped bytes: an InputError or (for streams with no
    framing, where a cut is indistinguishable from a shorter file) the events before it."""
    good = write(tmp_path, name).read_bytes()
    for kind, data in damaged(good, name).items():
        path = tmp_path / f"{kind}-{name}"
        path.write_bytes(data)
        try:
            events = read_event_file(path)
        except InputError as exc:
            assert exc.where == str(path) and "\n" not in str(exc), kind
        else:
            assert kind in ("header-only", "flipped") and len(events) <= len(EVENTS), kind


@pytest.mark.parametrize("name", ALL)
def test_randomly_mutated_files_read_or_fail_in_one_line(tmp_path, name):
    """Seeded fuzzing: bytes overwritten at random (and every third copy cut short) either read
    or raise InputError naming the file (a Rust panic included); no other exception, no hang."""
    small = EVENTS.select(slice(0, 600))
    good = write(tmp_path, name, small).read_bytes()
    rng = np.random.default_rng(sum(name.encode()))
    for k in range(12):
        data = bytearray(good)
        for at in rng.integers(0, len(data), int(rng.integers(1, 12))):
            data[int(at)] = int(rng.integers(0, 256))
        path = tmp_path / f"m{k}-{name}"
        path.write_bytes(bytes(data[: int(rng.integers(1, len(data)))] if k % 3 == 0 else data))
        try:
            read_event_file(path)
        except InputError as exc:
            assert exc.where == str(path) and "\n" not in str(exc)


def test_truncated_framed_files_say_so(tmp_path):
    for name, text in (("davis.aedat", "truncated AEDAT 2.0 file"), ("cAER31.aedat", "AEDAT 3.1 packet at byte"),
                       ("events-group.h5", "corrupt or unreadable HDF5")):
        good = write(tmp_path, name).read_bytes()
        (tmp_path / f"cut-{name}").write_bytes(good[:-5])  # inside the last record or packet
        with pytest.raises(InputError, match=text):
            open_event_file(tmp_path / f"cut-{name}")


@pytest.mark.parametrize("head,text", [(b"#!AER-DAT4.0\r\n", "an AEDAT 4 file named .aedat: rename it to .aedat4"),
                                       (b"#!AER-DAT3.0\r\n", "AEDAT 3.0 is not supported"),
                                       (b"#!AER-DAT2.0\r\n# AEChip: ch.unizh.ini.MysteryChip\r\n",
                                        "AEChip 'ch.unizh.ini.MysteryChip': only DVS128 and DAVIS")])
def test_aedat_versions_and_chips_we_cannot_read_are_named(tmp_path, head, text):
    path = tmp_path / "x.aedat"
    path.write_bytes(head + bytes(80))
    with pytest.raises(InputError, match=text):
        open_source(str(path))


@pytest.mark.parametrize("name", ["evt3.raw", "dvs.es", "cAER31.aedat", "events-group.h5", "header.csv"])
def test_file_source_replays_seeks_and_loops(tmp_path, name):
    src = open_source(str(write(tmp_path, name)), speed=None)
    assert isinstance(src, FileSource) and src.info.seekable and (src.info.width, src.info.height) == (346, 260)
    assert same_events(EventBatch.concat(list(src.batches()), 346, 260), EVENTS)
    src.seek(1_000_000)  # back from the end: the next pass, shifted by one period (io.sources)
    items = list(src.batches())
    assert items[0] is SEEK  # in band, before the first event from there
    after = EventBatch.concat(items[1:], 346, 260)
    after = EventBatch(after.t - src.period_us, after.x, after.y, after.p, 346, 260)
    assert same_events(after, EVENTS.select(EVENTS.t >= EVENTS.t_first_us + 1_000_000))
    src.close()


def test_unsupported_suffixes_still_named(tmp_path):
    (tmp_path / "a.npy").write_bytes(bytes(10))
    with pytest.raises(InputError, match="NumPy .npy files are not supported"):
        open_source(str(tmp_path / "a.npy"))


def test_info_and_classify_from_the_cli(tmp_path, capsys):
    """``r2etl info`` describes a file of any format; ``r2etl classify`` replays one through the
    model (the bundled one: the viewer's and classify's path through ``open_source``)."""
    import json

    from r2etl_core.cli.main import main

    es = write(tmp_path, "dvs.es")
    (tmp_path / "dvs.labels.csv").write_text(f"start_us,end_us,label\n{EVENTS.t_first_us},{EVENTS.t_last_us},3\n")
    assert main(["info", str(es), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["kind"], info["resolution"], info["events"]) == ("Event Stream (DVS) recording", "346x260", 4000)
    assert info["t_start_us"] == EVENTS.t_first_us and info["labels"].startswith("dvs.labels.csv: 1 segments")
    assert main(["classify", str(es), "--json", "--out", str(tmp_path / "p.jsonl")]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    lines = (tmp_path / "p.jsonl").read_text().splitlines()
    assert summary["slices"] == len(lines) >= (EVENTS.t_last_us - EVENTS.t_first_us) // 30_000
    assert sum(json.loads(line)["events"] for line in lines) == 4000
