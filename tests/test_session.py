"""The live session without Qt: the viewer's control path, driven headless and waited on.

Opening and re-opening inputs, swapping models at the same position, seeks (in band), the end
of the input, one report per error, and the recording's life; no Qt event loop anywhere."""

from __future__ import annotations

import threading

import pytest
from app_fixtures import FailingSource, MemoryOpener, demo_events, other_model, tiny_model  # noqa: F401

from r2etl_core.stream.settings import EngineConfig
from r2etl_core.stream.session import LiveSession, SessionListener
from r2etl_core.types import ResetPolicy, SliceByTime

TIMEOUT_S = 60


class Heard(SessionListener):
    def __init__(self):
        self.calls: list[tuple] = []

    def source_changed(self, info):
        self.calls.append(("source", info.name if info else None))

    def model_changed(self, meta):
        self.calls.append(("model", meta.class_names))

    def error(self, message, dialog):
        self.calls.append(("error", message, dialog))

    def status(self, message):
        self.calls.append(("status", message))

    def recording_changed(self, path):
        self.calls.append(("recording", path))

    def said(self, kind: str) -> list:
        return [c[1:] for c in self.calls if c[0] == kind]


def make_session(opener=None, **kw) -> tuple[LiveSession, Heard]:
    heard = Heard()
    session = LiveSession(heard, opener=opener or MemoryOpener(), segment_reader=lambda spec: [],
                          engine_config=EngineConfig(history=4096), **kw)
    return session, heard


def test_plays_an_input_to_its_end_and_says_so(tiny_model):  # noqa: F811
    session, heard = make_session(speed=None)
    session.load_model(tiny_model)
    session.start_input(session.open_input("demo"))
    assert session.wait(TIMEOUT_S)
    outputs, stats = session.poll()
    assert stats.finished and stats.dropped == 0
    assert len(outputs) == stats.slices_done > 100
    assert heard.said("source") == [("demo",)]
    assert any("end of input" in s[0] for s in heard.said("status"))
    session.close()


def playing(model) -> LiveSession:
    """A session replaying the demo events in a loop at 1x."""
    session, _ = make_session()
    session.loop = True
    session.load_model(model)
    session.start_input(session.open_input("demo"))
    return session


def test_settings_reach_the_model_with_the_next_slice(tiny_model):  # noqa: F811
    session = playing(tiny_model)
    session.update(reset=ResetPolicy("window", window_slices=3))
    assert session.engine.reset_policy.window_slices == 3  # asked for: at once
    outs = []
    while not any(o.prediction.step_in_window == 3 for o in outs):  # stepped with it
        assert session.engine.wait(0.05) is False
        outs += session.poll(with_stats=False)[0]
    assert max(o.prediction.step_in_window for o in outs[-5:]) <= 3
    session.close()


def test_a_seek_restarts_the_network_at_the_new_position(tiny_model):  # noqa: F811
    session = playing(tiny_model)
    source = session.source
    while not session.engine.stats().slices_done:
        session.engine.wait(0.05)
    session.seek(1_500_000)
    later = []
    while len(later) < 5:  # after the seek, poll() shows nothing from before the jump
        session.engine.wait(0.05)
        later += [o.prediction for o in session.poll(with_stats=False)[0]]
    assert source.seeks == [1_500_000]
    since_start = [source.recording_time_us(p.t_start_us) - source.events.t_first_us for p in later]
    assert min(since_start) >= 1_500_000 - 10_000, since_start  # (the slice grid: one slice early at most)
    assert later[0].reset_before  # from rest, as at the start of a stream
    session.close()


def test_a_new_model_reopens_the_input_where_it_was(tiny_model, other_model):  # noqa: F811
    opener = MemoryOpener()
    session, heard = make_session(opener)
    session.load_model(tiny_model)
    session.start_input(session.open_input("demo"))
    session.seek(700_000)
    old_engine = session.engine
    session.load_model(other_model)  # re-opens in the background; delivered on that thread
    assert session.tasks.wait_idle(TIMEOUT_S)
    assert session.engine is not old_engine and not old_engine.stats().running
    assert len(opener.opened) == 2 and opener.opened[0].closed
    assert len(opener.opened[1].seeks) == 1 and 700_000 <= opener.opened[1].seeks[0] < 1_000_000
    assert [m[0] for m in heard.said("model")] == [tuple("0123456789"), ("a", "b", "c", "d")]
    assert session.engine.slicing == SliceByTime(20_000)  # the new model's own slicing
    session.close()


def test_only_the_newest_open_wins(tiny_model):  # noqa: F811
    gate = threading.Event()

    class SlowOpener(MemoryOpener):
        def __call__(self, spec, speed, loop):
            if spec == "slow":
                gate.wait(TIMEOUT_S)
            return super().__call__(spec, speed, loop)

    opener = SlowOpener()
    session, heard = make_session(opener)
    session.load_model(tiny_model)
    session.open_input_async("slow", "a slow camera")
    session.open_input_async("demo", "the demo")
    while session.tasks.pending > 1:
        session.tasks.wait_idle(0.05)
    gate.set()
    assert session.tasks.wait_idle(TIMEOUT_S)
    assert session.spec == "demo" and heard.said("source") == [("demo",)]
    slow = [s for s in opener.opened if s.info.name == "slow"]
    assert len(slow) == 1 and slow[0].closed  # opened late, closed at once
    session.close()


def test_a_lost_input_is_reported_once_and_the_recording_is_finished(tiny_model, tmp_path):  # noqa: F811
    from r2etl_core.io.dv import read_all_events

    session, heard = make_session(lambda spec, speed, loop: FailingSource(demo_events(), after_batches=40))
    session.load_model(tiny_model)
    session.start_input(session.open_input("camera:TEST"))
    session.start_recording(tmp_path / "take")
    assert heard.said("recording") == [(str(tmp_path / "take.aedat4"),)]
    assert session.wait(TIMEOUT_S) and not session.engine.stats().finished
    session.poll()
    session.poll()
    errors = heard.said("error")
    assert errors == [("camera:TEST: camera disconnected (no data for 1 s)", False)]
    assert heard.said("recording")[-1] == ("",)
    assert any("saved" in s[0] and "input lost" in s[0] for s in heard.said("status"))
    assert len(read_all_events(tmp_path / "take.aedat4")) > 0
    session.close()


def test_close_finishes_the_recording_first(tiny_model, tmp_path):  # noqa: F811
    session, heard = make_session(lambda spec, speed, loop: FailingSource(demo_events(), after_batches=10**9))
    session.load_model(tiny_model)
    session.start_input(session.open_input("camera:TEST"))
    session.start_recording(tmp_path / "take.aedat4")
    while not session.engine.stats().slices_done:
        session.engine.wait(0.05)
    session.close()
    assert session.engine is None and session.recording is None
    assert any("saved" in s[0] and "session closed" in s[0] for s in heard.said("status"))
    session.load_model(tiny_model)  # a closed session takes nothing new
    assert session.engine is None


def test_no_model_yet_the_input_waits_for_one(tiny_model):  # noqa: F811
    opener = MemoryOpener()
    session, heard = make_session(opener)
    session.open_input_async("demo", "the demo")
    assert session.tasks.wait_idle(TIMEOUT_S)
    assert session.spec == "demo" and session.engine is None and opener.opened[0].closed
    session.load_model(tiny_model)  # opens it again for the model
    assert session.tasks.wait_idle(TIMEOUT_S)
    assert session.engine.stats().running and heard.said("source") == [("demo",)]
    session.close()


@pytest.mark.parametrize("bad", ["missing.aedat4"])
def test_an_input_that_cannot_open_keeps_what_plays(tiny_model, bad):  # noqa: F811
    from r2etl_core.errors import InputError

    opener = MemoryOpener(fail={bad: InputError(bad, "no such file")})
    session, heard = make_session(opener)
    session.load_model(tiny_model)
    session.start_input(session.open_input("demo"))
    session.open_input_async(bad, bad)
    assert session.tasks.wait_idle(TIMEOUT_S)
    assert heard.said("error") == [(f"{bad}: no such file", True)]
    assert session.spec == "demo" and session.engine.stats().running
    session.close()


def test_a_new_model_on_a_live_input_is_switched_in_while_it_streams(tiny_model, other_model):  # noqa: F811
    session, heard = make_session(lambda spec, speed, loop: FailingSource(demo_events(), after_batches=10**9))
    session.load_model(tiny_model)
    session.start_input(session.open_input("camera:TEST"))
    engine, source = session.engine, session.source
    while not engine.stats().slices_done:
        engine.wait(0.05)
    session.load_model(other_model)  # the camera is not re-opened: the engine adopts the model
    assert session.engine is engine and session.source is source and not source.closed
    assert engine.stats().running and session.meta.class_names == ("a", "b", "c", "d")
    later = []
    while len(later) < 5:
        engine.wait(0.05)
        later += [o.prediction for o in session.poll(with_stats=False)[0]]
    assert all(p.top_label in "abcd" for p in later)  # nothing of the old model is shown after it
    assert later[0].reset_before and engine.slicing == SliceByTime(20_000)  # from rest, its own slicing
    assert any("switched in while streaming" in s[0] for s in heard.said("status"))
    session.close()
