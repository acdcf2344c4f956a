import numpy as np

from r2etl_core.io.labels import LabelSegment
from r2etl_core.stream.scoring import score_segments
from r2etl_core.train.evaluate import summarize
from r2etl_core.types import Prediction, StageTimings


def pred(t0, label, events=10):
    return Prediction(0, t0, t0 + 10, events, (1.0,), 0, label, 1.0, StageTimings(0, 0, 0, 0),
                      1, False, 0.0, 0.0)


def test_segment_majority_vote_and_slice_accuracy():
    segs = [LabelSegment(0, 100, "3"), LabelSegment(100, 200, "7"), LabelSegment(300, 400, "1")]
    preds = [pred(0, "3"), pred(10, "3"), pred(20, "8"),      # segment 1: majority right
             pred(100, "1"), pred(110, "1"), pred(120, "7"),  # segment 2: majority wrong
             pred(200, "7"),                                   # between segments: ignored
             pred(300, "1", events=0)]                         # no events: ignored
    score = score_segments(preds, segs)
    assert (score.segments, score.correct) == (2, 1)
    assert score.accuracy == 0.5
    assert score.slice_accuracy == 3 / 6


def test_confusion_matrix_rows_are_true_labels():
    r = summarize(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), ("a", "b", "c"))
    assert r.confusion.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    assert r.accuracy == 0.75 and r.per_class == (1.0, 1.0, 0.5)
