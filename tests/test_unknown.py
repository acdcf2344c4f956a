"""Not one of my classes: the detector, its place in the model file, the engine's two kinds of
"no decision", and the shipped models on real recordings of other things."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from conftest import PROJECT_RECORDINGS

from r2etl_core.cli import main as cli
from r2etl_core.errors import ModelError
from r2etl_core.io.dv import read_all_events
from r2etl_core.io.modelfile import DEFAULT_MODEL_PATH, load_model, read_meta, save_model
from r2etl_core.nn.unknown import (FEATURE, FEATURE_CONV, UnknownDetector, effective_threshold, feature_dims,
                                   fit_detector)
from r2etl_core.stream.classify import ClassifyRequest, classify_input
from r2etl_core.stream.settings import StreamSettings
from r2etl_core.types import Readout

DEMO = PROJECT_RECORDINGS / "nmnist-demo.aedat4"
LAB = PROJECT_RECORDINGS / "davis346-lab-frames.aedat4"  # a real lab scene: no digit in view


def clusters(rng, n=400, dims=6, classes=3, spread=0.3):
    centres = rng.normal(0, 3, (classes, dims))
    labels = rng.integers(0, classes, n)
    return centres[labels] + rng.normal(0, spread, (n, dims)), labels, centres


def test_fit_sets_the_threshold_at_the_quantile_of_held_out_class_scores():
    rng = np.random.default_rng(0)
    x, y, centres = clusters(rng)
    held, _, _ = clusters(np.random.default_rng(0), n=2000)  # same centres (same seed), fresh draws
    det = fit_detector(x, y, 3, 0.9, threshold_features=held)
    assert det.means.shape == (3, 6) and det.precision.shape == (6, 6)
    assert (det.scores(held) > det.threshold).mean() == pytest.approx(0.1, abs=0.01)
    far = centres[0] + 20.0
    assert det.scores(far[None])[0] > 10 * det.threshold  # far from every class: unknown
    assert det.scores(centres[1][None])[0] < det.threshold


def test_negatives_raise_the_threshold_only_when_they_are_further_than_the_classes():
    rng = np.random.default_rng(1)
    x, y, centres = clusters(rng)
    plain = fit_detector(x, y, 3, 0.95)
    far = centres[0] + rng.normal(8, 0.5, (200, 6))
    with_far = fit_detector(x, y, 3, 0.95, negatives=far)
    assert with_far.threshold > plain.threshold
    assert with_far.calibration["negatives_unknown"] >= 0.85
    near = x[:50]  # "negatives" that look like the classes cannot move it
    assert fit_detector(x, y, 3, 0.95, negatives=near).threshold == pytest.approx(plain.threshold)
    with pytest.raises(ValueError, match=r"class\(es\) \[2\]"):
        fit_detector(x[y < 2], y[y < 2], 3, 0.95)


def test_detector_round_trips_and_bad_ones_are_refused_naming_the_key():
    det = fit_detector(*clusters(np.random.default_rng(2))[:2], 3, 0.99)
    back = UnknownDetector.from_dict(json.loads(json.dumps(det.to_dict())), 3, 6)
    np.testing.assert_allclose(back.means, det.means, atol=1e-5)
    assert back.threshold == pytest.approx(det.threshold, abs=1e-3)
    for broken, key in ((dict(det.to_dict(), means=[[0.0] * 6] * 2), "unknown.means"),
                        (dict(det.to_dict(), threshold=-1), "unknown.threshold"),
                        (dict(det.to_dict(), precision="x"), "unknown:"),
                        ([1, 2], "unknown: must be a JSON object")):
        with pytest.raises(ValueError, match=key):
            UnknownDetector.from_dict(broken, 3, 6)
    assert effective_threshold(det, 0.0) == det.threshold
    assert effective_threshold(det, 5.0) == 5.0
    assert effective_threshold(det, float("inf")) is None and effective_threshold(None, 0.0) is None


def test_a_detector_on_the_conv_feature_is_stored_packed_and_round_trips():
    rng = np.random.default_rng(5)
    x, y, _ = clusters(rng, n=2000, dims=80)
    det = fit_detector(x, y, 3, 0.99, feature=FEATURE_CONV)
    d = json.loads(json.dumps(det.to_dict()))
    assert "precision" not in d and isinstance(d["precision_tril_f32"], str) and d["feature"] == FEATURE_CONV
    back = UnknownDetector.from_dict(d, 3, {FEATURE: 32, FEATURE_CONV: 80})
    assert back.feature == FEATURE_CONV
    np.testing.assert_allclose(back.scores(x[:50]), det.scores(x[:50]), rtol=1e-3)
    with pytest.raises(ValueError, match="unknown.precision_tril_f32: 3240 values, a 81x81"):
        UnknownDetector.from_dict(d, 3, {FEATURE: 32, FEATURE_CONV: 81})  # a network with 81 values
    with pytest.raises(ValueError, match="unknown.precision_tril_f32"):
        UnknownDetector.from_dict(dict(d, precision_tril_f32=d["precision_tril_f32"][:-8]), 3, 80)
    with pytest.raises(ValueError, match="unknown.feature"):
        UnknownDetector.from_dict(dict(d, feature="fc2"), 3, 80)


def test_the_current_derived_from_the_conv_feature_is_the_recorded_current():
    """Calibration records fc1's smoothed input and derives fc1's smoothed output from it: the
    readout's smoothing is linear, so it commutes with fc1."""
    from r2etl_core.train.calibrate import as_current, feature_core, stream_features

    model, meta = load_model(DEFAULT_MODEL_PATH)
    events = read_all_events(DEMO)
    events = events.select(events.t < events.t_first_us + 1_500_000)
    core = feature_core(model, meta)
    conv, _, _ = stream_features(core, events)
    core.feature = FEATURE
    current, _, _ = stream_features(core, events)
    dims = feature_dims(meta.config)
    assert conv.shape[1] == dims[FEATURE_CONV] and current.shape[1] == dims[FEATURE]
    np.testing.assert_allclose(as_current(model, conv), current, atol=1e-3)


def test_a_model_file_with_a_broken_detector_is_one_model_error(tmp_path):
    model, meta = load_model(DEFAULT_MODEL_PATH)
    bad = fit_detector(*clusters(np.random.default_rng(3), classes=10)[:2], 10, 0.99).to_dict()  # 6 features
    path = save_model(model, dataclasses.replace(meta, unknown=bad), tmp_path / "bad.safetensors")
    with pytest.raises(ModelError, match="unknown.means: shape"):
        read_meta(path)


def test_shipped_model_says_unknown_on_a_real_lab_scene_and_a_class_when_told_not_to(tmp_path):
    """Regression: before the detector, this DAVIS346 lab scene was answered "1" on every slice."""
    assert read_meta(DEFAULT_MODEL_PATH).unknown, "the default model ships calibrated"
    assert read_meta(DEFAULT_MODEL_PATH).unknown_detector().feature == FEATURE_CONV
    out = tmp_path / "lab.jsonl"
    summary = classify_input(ClassifyRequest(str(LAB), out=out))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    active = [r for r in rows if r["events"] and r["abstain"] != "no activity"]
    assert len(active) >= 4
    assert sum(r["abstain"] == "unknown" for r in active) / len(active) >= 0.75
    assert all(r["label"] is None and r["best_guess"] in "0123456789" for r in active if r["abstain"])
    assert summary["abstained_unknown"] >= 0.75 and summary["unknown_threshold"] > 0
    off = classify_input(ClassifyRequest(str(LAB), settings=StreamSettings(
        readout=Readout(unknown_threshold=float("inf")))))
    assert off["abstained_unknown"] == 0.0 and off["unknown_threshold"] is None


def test_the_demo_shows_digits_and_its_stretch_of_traffic_as_unknown():
    summary = classify_input(ClassifyRequest(str(DEMO)))
    assert summary["segments"] == 21 and summary["segment_accuracy"] >= 0.9
    assert summary["unknown_rate_in_unknown"] >= 0.75
    assert summary["abstain_unknown_rate"] <= 0.05  # digits are rarely called unknown
    assert summary["settle_ms_p50"] <= 150


def test_unknown_threshold_flag(capsys):
    assert cli.main(["classify", str(LAB), "--unknown-threshold", "off", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["abstained_unknown"] == 0.0
    assert cli.main(["classify", str(LAB), "--unknown-threshold", "1e9", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["unknown_threshold"] == 1e9
    assert cli.main(["classify", str(LAB), "--unknown-threshold", "maybe"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--unknown-threshold" in err


def test_the_engine_scorer_equals_the_detector_scores():
    import torch

    det = read_meta(DEFAULT_MODEL_PATH).unknown_detector()
    x = np.random.default_rng(4).normal(0, 3, (64, det.dims)) + det.means[3]
    got = det.torch_scorer(torch.device("cpu"))(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(got, det.scores(x), rtol=1e-4)


@pytest.mark.parametrize("name", ["dvs-320x240.es", "dvxplorer-320x240-person.aedat4"])
def test_the_default_model_says_unknown_on_toy_airplanes_and_a_person(shared_data, tmp_path, name):
    """Regression (issue 17, second round): with the fc1-current detector these two real files were
    answered "unknown" on only 64.5% and 75.0% of their active slices (the airplanes "2", "5",
    "7"); the target is >= 75% on every file. Evaluation data: the detector was never fitted,
    calibrated or chosen on them."""
    out = tmp_path / "p.jsonl"
    classify_input(ClassifyRequest(str(shared_data / "recordings" / name), out=out))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    active = [r for r in rows if r["events"] and r["abstain"] != "no activity"]
    assert len(active) >= 15
    assert sum(r["abstain"] == "unknown" for r in active) / len(active) >= 0.75
