"""Calibrate a model's "unknown" detector (``r2etl_core.nn.unknown``) from its own training data.

The detector needs the features of the model's classes as the live engine sees them: slices of a
continuous stream, binned, stepped with the state carried and smoothed by the default readout.
So the calibration streams are built from the data the model TRAINED on, never from its held-out
samples or from the recordings it is judged on:

- N-MNIST models: class means and covariance from three continuous streams of TRAINING samples
  (held 0.3-1.2 s, back to back, under 0, 1 and 5 events/s/pixel of background noise), built as
  the test streams are (``r2etl_core.train.datasets.continuous``); the threshold from three streams
  (1, 5 and 0 Hz) of the model's held-out samples that no continuous test stream shows: a network
  sits closer to its class means on samples it trained on, so a threshold set there calls ~2-3x
  more held-out digits "unknown" than it was set for (measured: docs/benchmarks.md);
- own-class models (``--data aedat4:DIR``): means from the training recordings, the threshold
  from the held-out recordings (the training ones when none is held out), each slice labelled by
  the segment it falls in; stretches labelled ``unknown``/``none`` and the recordings of a
  ``--negatives`` folder are slices of "none of these".

Every slice in which the activity gate sees more than noise counts. The threshold is a high
quantile (``quantile``) of the classes' own scores on the threshold streams, moved up towards the
negatives when there are any (``fit_detector``).

The feature is the last conv block's spikes (``fc1-input``) when there are at least
``SLICES_PER_DIM`` class slices per value to estimate its covariance from (N-MNIST: 4,556 slices
for 576 values), else the bottleneck's current (``fc1-current``, 32 values for the shipped width):
both come from one pass, the current being ``fc1`` applied to the smoothed spikes (the readout's
smoothing is linear, so it commutes with ``fc1``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from r2etl_core.errors import InputError
from r2etl_core.io.eventfiles import read_event_file as read_all_events
from r2etl_core.io.labels import LabelSegment, segment_index
from r2etl_core.io.modelfile import load_model, save_model
from r2etl_core.nn.meta import ModelMeta
from r2etl_core.io.nmnist import read_bin
from r2etl_core.nn.inference import InferenceCore
from r2etl_core.nn.unknown import FEATURE, FEATURE_CONV, SHRINKAGE, SHRINKAGE_CONV, UnknownDetector, fit_detector
from r2etl_core.stream.slicing import StreamSlicer, binned_offline
from r2etl_core.train.datasets.continuous import StreamRecipe, build_stream, class_of, pick_per_class, test_stream_ids
from r2etl_core.train.datasets.folders import scan_class_folders
from r2etl_core.limits import UNKNOWN_QUANTILE
from r2etl_core.types import ABSTAIN_NOTHING, EventBatch, FrameSpec, Readout

QUANTILE = UNKNOWN_QUANTILE  # the reasons are in limits.py
NMNIST_STREAMS = ((11, 0.0), (12, 1.0), (13, 5.0))  # (seed, noise events/s/pixel)
HELD_STREAMS = ((21, 1.0), (22, 5.0), (23, 0.0))  # the threshold's streams: the fit streams' noise rates
PER_CLASS = 6  # training samples of each class per calibration stream
RUN = 64  # slices stepped per forward
SLICES_PER_DIM = 4  # (choice) class slices per feature value needed to use the conv feature


@dataclasses.dataclass(frozen=True)
class Labelled:
    """A calibration stream: its events and which spans show which class (or none of them)."""

    events: EventBatch
    segments: tuple[LabelSegment, ...]  # class segments; other times are not used
    negatives: tuple[LabelSegment, ...] = ()  # spans of "none of these"
    all_negative: bool = False  # every active slice is "none of these" (a --negatives recording)


def feature_core(model, meta: ModelMeta) -> InferenceCore:
    """One inference core for all of a model's calibration streams (its hooks sit on the model),
    keeping every slice's smoothed features, never answering "unknown"."""
    core = InferenceCore(model, dataclasses.replace(meta, unknown={}), torch.device("cpu"),
                         readout=Readout(unknown_threshold=float("inf")), frames=False)
    core.keep_features = True
    core.feature = FEATURE_CONV  # fc1's input; fc1-current is derived from it (as_current)
    return core


def as_current(model, conv: np.ndarray | None) -> np.ndarray | None:
    """``fc1-current`` features of smoothed ``fc1-input`` ones: ``fc1`` applied to them."""
    if conv is None or not len(conv):
        return conv
    w = model.fc1.weight.detach().double().numpy()
    return conv @ w.T + model.fc1.bias.detach().double().numpy()


def stream_features(core: InferenceCore, events: EventBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(smoothed features [N, D], slice middles [N] us, active [N] bool) of every slice of
    ``events``, from rest, run exactly as the engine runs a stream with the default readout."""
    meta = core.meta
    core.request_reset()
    core.feature_log.clear()
    spec = FrameSpec.centred(events.width, events.height, meta.config.input_size)
    slicer = StreamSlicer(meta.slicing.slicer())
    slices = slicer.push(events) + slicer.flush()
    mids, active = [], []
    for a in range(0, len(slices), RUN):
        for out in core.step_many(binned_offline(slices[a:a + RUN], spec, torch.device("cpu"))):
            p = out.prediction
            mids.append((p.t_start_us + p.t_end_us) // 2)
            active.append(p.abstain != ABSTAIN_NOTHING and p.event_count > 0)
    features = np.concatenate(core.feature_log) if core.feature_log else np.zeros((0, 0))
    return features.astype(np.float64), np.asarray(mids), np.asarray(active, bool)


def _nmnist_stream(root: Path, ids: list[str], noise: float, seed: int) -> Labelled:
    samples = [(read_bin(root / rel), class_of(rel)) for rel in ids]
    recipe = StreamRecipe(hold_us=(300_000, 1_200_000), noise_hz_per_pixel=noise, seed=seed)
    events, labels = build_stream(samples, recipe)
    return Labelled(events, tuple(labels))


def nmnist_streams(meta: ModelMeta, model_path: Path) -> tuple[list[Labelled], list[Labelled]]:
    """(streams of training samples for the means, streams of held-out samples that no test stream
    shows for the threshold)."""
    data = meta.training.get("data", {})
    root = Path(str(data.get("events_dir", "")))
    if not root.is_dir():
        raise InputError(root, "the model's N-MNIST training folder is not here: calibration needs the data "
                               "the model trained on")
    holdout = set(meta.training.get("holdout", []))
    files = scan_class_folders(root, (".bin",), "N-MNIST")
    rels = [files.relative(i) for i in range(len(files.files))]
    train_ids = [rel for rel in rels if rel not in holdout]
    fit = [_nmnist_stream(root, pick_per_class(train_ids, PER_CLASS, seed), noise, seed)
           for seed, noise in NMNIST_STREAMS]
    reserved = test_stream_ids(root, model_path) if holdout else set()
    spare = [rel for rel in rels if rel in holdout and rel not in reserved]
    if len({class_of(rel) for rel in spare}) < meta.config.num_classes:
        return fit, fit  # no held-out sample of some class: the training streams set the threshold too
    order = pick_per_class(spare, len(spare), 21)
    return fit, [_nmnist_stream(root, order, noise, seed) for seed, noise in HELD_STREAMS]


def recording_streams(meta: ModelMeta) -> tuple[list[Labelled], list[Labelled]]:
    """(training recordings, held-out recordings or the training ones when none is held out),
    each with its class segments and its "none of these" stretches."""
    from r2etl_core.train.datasets.recordings import scan_recordings

    data = meta.training.get("data", {})
    recordings = scan_recordings(str(data.get("events_dir", "")))
    holdout = set(meta.training.get("holdout", []))
    streams = {rec.rel: Labelled(read_all_events(rec.path), rec.segments, rec.negatives)
               for rec in recordings.recordings}
    fit = [s for rel, s in streams.items() if rel not in holdout]
    held = [s for rel, s in streams.items() if rel in holdout]
    return fit or held, held or fit


def negative_streams(folder: str | Path) -> list[Labelled]:
    """Every recording under ``folder`` as "none of these" (no labels needed)."""
    from r2etl_core.train.datasets.recordings import find_recordings

    paths = find_recordings(Path(folder))
    if not paths:
        raise InputError(folder, "no event recordings (.aedat4, .raw, .dat, .es, .csv, .h5, .aedat) found "
                                 "for --negatives")
    return [Labelled(read_all_events(p), (), (), all_negative=True) for p in paths]


def collect(core: InferenceCore, streams: Iterable[Labelled]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(class features, their class indices, negative features) over the active slices."""
    names = list(core.meta.class_names)
    pos, labels, neg = [], [], []
    for stream in streams:
        feats, mids, active = stream_features(core, stream.events)
        for f, mid, on in zip(feats, mids, active):
            if not on:
                continue
            if stream.all_negative or segment_index(stream.negatives, int(mid)) is not None:
                neg.append(f)
                continue
            i = segment_index(stream.segments, int(mid))
            if i is not None and str(stream.segments[i].label) in names:
                pos.append(f)
                labels.append(names.index(str(stream.segments[i].label)))
    # no class slice at all: fit_detector names the classes it misses
    return (np.asarray(pos) if pos else np.zeros((0, 0))), np.asarray(labels, int), (np.asarray(neg) if neg else None)


def calibrate(model_path: str | Path, out: str | Path | None = None, negatives: str | Path | None = None,
              quantile: float = QUANTILE) -> tuple[Path, UnknownDetector]:
    """Fit the detector of ``model_path`` and write the model with it to ``out`` (default: in place,
    atomically). Returns the path written and the detector."""
    model, meta = load_model(model_path, "cpu")
    kind = str(meta.training.get("data", {}).get("events", ""))
    if kind == "nmnist":
        fit, held = nmnist_streams(meta, Path(model_path))
        source = "means: N-MNIST training samples; threshold: held-out samples no test stream shows"
    elif kind == "aedat4":
        fit, held = recording_streams(meta)
        source = "means: the training recordings; threshold: the held-out recordings"
    else:
        raise InputError(model_path, f"calibrating 'unknown' needs N-MNIST or aedat4 training data; this model "
                                     f"was trained on {kind or 'unrecorded data'!r}")
    core = feature_core(model, meta)
    pos, labels, neg = collect(core, fit)
    held_pos, _, held_neg = collect(core, held + (negative_streams(negatives) if negatives else []))
    negs = [n for n in (neg, held_neg) if n is not None and len(n)]
    feature = FEATURE_CONV if pos.ndim == 2 and len(pos) >= SLICES_PER_DIM * pos.shape[1] else FEATURE
    if feature == FEATURE:
        pos, held_pos, negs = as_current(model, pos), as_current(model, held_pos), [as_current(model, n) for n in negs]
    try:
        detector = fit_detector(pos, labels, meta.config.num_classes, quantile, np.concatenate(negs) if negs else None,
                                {"data": source, "negatives": str(negatives) if negatives else None,
                                 "readout": "default (ema 75 ms)"}, threshold_features=held_pos, feature=feature,
                                shrinkage=SHRINKAGE_CONV if feature == FEATURE_CONV else SHRINKAGE)
    except ValueError as exc:
        raise InputError(model_path, f"cannot calibrate 'unknown': {exc}") from None
    target = Path(out) if out else Path(model_path)
    save_model(model, dataclasses.replace(meta, unknown=detector.to_dict()), target)
    return target, detector
