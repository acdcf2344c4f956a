"""Ground truth in the viewer: the true label beside the prediction and a running accuracy that
agrees with r2etl_core.stream.scoring, also across loops (stream time mapped to recording time)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import random  # noqa: E402

import pytest  # noqa: E402

pytest.importorskip("pytestqt")

from app_fixtures import start_viewer, tiny_model  # noqa: E402,F401

from r2etl_core.io.labels import LabelSegment  # noqa: E402
from r2etl_core.stream.scoring import (
    RunningScore,  # noqa: E402
    score_segments,  # noqa: E402
)
from r2etl_core.types import Prediction, StageTimings  # noqa: E402

TIMEOUT = 20_000
# the demo events: a bar sweeps the 64x48 sensor every 200 ms for 2 s; label each sweep
SWEEPS = [LabelSegment(k * 200_000 + 20_000, k * 200_000 + 180_000, str(k % 10)) for k in range(10)]


def prediction(t_start: int, label: str, events: int = 10, index: int = 0) -> Prediction:
    return Prediction(index, t_start, t_start + 10_000, events, (1.0,), int(label), label, 0.9,
                      StageTimings(0, 0, 0, 0), 1, False, 0.0, 0.0)


def test_running_score_equals_score_segments():
    rng = random.Random(0)
    preds = [prediction(t, str(rng.choice([k % 10 for k in range(3)] + [t // 200_000 % 10])),
                        events=rng.choice([0, 5, 9]), index=i)
             for i, t in enumerate(range(0, 2_000_000, 10_000))]
    running = RunningScore(SWEEPS)
    for p in preds:
        running.add(p)
    running.finish_segment()
    batch = score_segments(preds, SWEEPS)
    assert (running.samples, running.correct) == (batch.segments, batch.correct)
    assert running.slice_accuracy == pytest.approx(batch.slice_accuracy)


def test_looped_stream_is_scored_in_recording_time():
    period = 2_000_000
    running = RunningScore(SWEEPS, time_map=lambda t: t % period)
    second_pass = [prediction(period + t, str(t // 200_000 % 10)) for t in range(0, period, 10_000)]
    for p in second_pass:
        mapped = running.to_recording_time(p)
        assert mapped.t_start_us == p.t_start_us - period
        running.add(mapped)
    running.finish_segment()
    assert running.samples == 10 and running.correct == 10


def test_truth_and_running_accuracy_reach_the_view(qtbot, tiny_model):  # noqa: F811
    window, session, _ = start_viewer(qtbot, tiny_model, segments=SWEEPS)
    view = window.prediction_view
    qtbot.waitUntil(lambda: "samples" in view.accuracy_label.text(), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: any(c in view.truth_label.text() for c in ("match", "differs")),
                    timeout=TIMEOUT)
    assert view.score.samples >= 1
    # the label shown is the one of the segment of the newest prediction
    newest = view.history[-1]
    truth = view.score.label_at(newest)
    assert truth is None or f"<b>{truth}</b>" in view.truth_label.text()
    assert view.strip.image.shape[0] == 2  # model row and truth row
    window.close()
