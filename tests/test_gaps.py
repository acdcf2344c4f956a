"""A recording with a gap of days (a stopped camera, or one timestamp with bit 40 flipped) costs
what its events cost: the slicer and the file reader skip the gap in a step instead of walking
it 50 ms at a time (~70 minutes for 12 days), and ``r2etl info`` says there is a gap."""

from __future__ import annotations

import numpy as np
import pytest

from r2etl_core.cli.main import main
from r2etl_core.io import dv as dvio
from r2etl_core.io.dv import AedatWriter
from r2etl_core.io.dv.readers import AedatReader
from r2etl_core.stream.slicing import StreamSlicer
from r2etl_core.types import EventBatch, SliceByTime
from scripts.synthetic_events import random_events

DAYS_12 = 12 * 86_400 * 10**6
BIT_40 = 1 << 40


def reference_slices(batches, slice_us: int, max_empty: int) -> list[tuple[int, int, int]]:
    """The slicer as it was (one step per window): (start, end, events) of each slice."""
    pending, start, out = [], None, []
    for batch in batches:
        if start is None:
            start = (batch.t_first_us // slice_us) * slice_us
        t = np.concatenate([*pending, batch.t])
        ends = start + slice_us * np.arange(1, (t[-1] - start) // slice_us + 1, dtype=np.int64)
        cuts = np.searchsorted(t, ends, side="left")
        lo, empty_run = 0, 0
        for end, hi in zip(ends.tolist(), cuts.tolist()):
            if hi == lo:
                empty_run += 1
                if empty_run > max_empty:
                    start = end
                    continue
            else:
                empty_run = 0
            out.append((start, end, hi - lo))
            lo, start = hi, end
        pending = [t[lo:]]
    return out


def chunks(events: EventBatch, rng: np.random.Generator) -> list[EventBatch]:
    cuts = np.sort(rng.choice(np.arange(1, len(events)), size=6, replace=False))
    return [events.select(slice(a, b)) for a, b in zip([0, *cuts], [*cuts, len(events)])]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("max_empty", [0, 3, 8])
def test_slicer_emits_exactly_the_slices_it_did_before(seed, max_empty):
    rng = np.random.default_rng(seed)
    durations, gaps = rng.integers(1_000, 400_000, 4), rng.integers(0, 2_000_000, 4)
    starts = 1_000_000 + np.concatenate([[0], np.cumsum(durations + gaps)[:-1]])
    events = EventBatch.concat([random_events(200, duration_us=int(d), t0_us=int(t0), seed=seed + k)
                                for k, (d, t0) in enumerate(zip(durations, starts))], 34, 34)
    assert np.all(np.diff(events.t) >= 0)
    batches = chunks(events, rng)
    slicer = StreamSlicer(SliceByTime(50_000), max_empty_slices=max_empty)
    got = [(s.t_start_us, s.t_end_us, len(s.events)) for b in batches for s in slicer.push(b)]
    assert got == reference_slices(batches, 50_000, max_empty)


@pytest.mark.parametrize("gap_us", [DAYS_12, BIT_40, 1 << 60])
def test_slicer_skips_a_gap_of_days_in_one_step(gap_us):
    """(Walking the grid, 2**60 us would ask numpy for ~2e13 window ends and fail.)"""
    before = random_events(300, duration_us=200_000, t0_us=1_000_000, seed=1)
    after = random_events(300, duration_us=200_000, t0_us=1_000_000 + gap_us, seed=2)
    slicer = StreamSlicer(SliceByTime(50_000), max_empty_slices=8)
    slices = slicer.push(before) + slicer.push(after) + slicer.flush()
    assert sum(len(s.events) for s in slices) == 600
    assert len(slices) <= 2 * (5 + 8)  # the occupied windows and 8 empty ones after each


def write_gapped(path, gap_us: int, one_packet: bool) -> EventBatch:
    """Events, a gap, events: in one packet (written at once) or in packets on each side."""
    before = random_events(500, duration_us=200_000, t0_us=1_000_000, seed=1)
    after = random_events(500, duration_us=200_000, t0_us=1_200_000 + gap_us, seed=2)
    writer = AedatWriter(path, 34, 34)
    writer.write(before)
    if not one_packet:
        writer.flush()
    writer.write(after)
    writer.close()
    return EventBatch.concat([before, after], 34, 34)


@pytest.mark.parametrize("one_packet", [False, True], ids=["packets", "one-packet"])
@pytest.mark.parametrize("gap_us", [DAYS_12, BIT_40], ids=["12-days", "bit-40"])
def test_reader_reads_across_a_gap_in_a_few_table_reads(tmp_path, monkeypatch, gap_us, one_packet):
    written = write_gapped(tmp_path / "gap.aedat4", gap_us, one_packet)
    reads = []
    real = AedatReader._events_between

    def counted(self, a, b):
        reads.append(a)
        assert len(reads) < 1000, "walking the gap one window at a time"
        return real(self, a, b)

    monkeypatch.setattr(AedatReader, "_events_between", counted)
    events = dvio.read_all_events(tmp_path / "gap.aedat4")
    np.testing.assert_array_equal(events.t, written.t)
    np.testing.assert_array_equal(events.x, written.x)
    assert len(reads) < 30  # ~10 windows of events and a jump; walking the gap would be ~2e7
    reader = AedatReader(tmp_path / "gap.aedat4")  # a seek into the gap starts at the events after it
    later = EventBatch.concat(list(reader.batches(start_us=1_200_000 + gap_us // 2)), 34, 34)
    reader.close()
    np.testing.assert_array_equal(later.t, written.t[500:])


def test_info_and_classify_on_a_recording_with_a_12_day_gap(tmp_path, capsys):
    path = tmp_path / "gap.aedat4"
    write_gapped(path, DAYS_12, one_packet=False)
    assert main(["info", str(path), "--json"]) == 0
    import json

    info = json.loads(capsys.readouterr().out)
    assert info["longest_gap_s"] > 1_000_000 and "12.0 days" in info["gap"]
    assert main(["classify", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["events"] == 1000 and summary["slices"] < 40


def test_a_paced_replay_waits_out_a_silence_of_days_in_at_most_ten_seconds(tmp_path, monkeypatch):
    """The viewer replays at 1x: a 12-day gap is replayed as 10 s of silence, not 12 days. The
    source's clock and its waits are simulated (no real waiting): the waits it asks for are summed."""
    from r2etl_core.stream import replay, sources

    path = tmp_path / "gap.aedat4"
    write_gapped(path, DAYS_12, one_packet=False)
    now = [1000.0]

    class Clock:
        @staticmethod
        def monotonic():
            return now[0]

    monkeypatch.setattr(replay, "time", Clock)
    src = sources.FileSource(path, speed=1.0)
    waits = []

    def wait(timeout=None):
        assert timeout is not None, "a paced replay never waits without a deadline here"
        waits.append(timeout)
        now[0] += timeout
        return False

    src._cond.wait = wait
    events = sum(len(batch) for batch in src.batches())
    src.close()
    assert events == 1000
    assert 10.0 <= sum(waits) <= 10.0 + 0.4 + 0.05  # the silence as 10 s, plus 2 x 200 ms of events
