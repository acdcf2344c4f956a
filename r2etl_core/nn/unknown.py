"""Not one of my classes: a distance on the network's own features, calibrated per model.

The feature is one of two, both smoothed by the readout exactly as the logits are:
- ``fc1-input``: the last conv block's spikes (the input of ``fc1``; 576 values for the shipped
  width), the default since the second round of issue 17: it tells synthetic and real non-digits
  from digits better than the bottleneck's 32 values, which ``fc1`` has projected onto what
  separates digits from each other (measured: docs/benchmarks.md, "Knowing what it doesn't know");
- ``fc1-current``: the bottleneck's input current (the output of ``fc1``, one value per
  bottleneck neuron): the first detector, kept for models calibrated on few slices.
Digits of one class put the feature near that class's mean; a hand, a room or a car put it far
from every mean, even when the softmax is confident. The score is the smallest squared
Mahalanobis distance to a class mean under one shared covariance (Lee et al. 2018), and the
threshold is a high quantile of the scores of the model's own classes on calibration streams
built from training data only, never from the recordings it is judged on.

The detector travels in the model file's metadata (``"unknown"``: feature, means, precision
matrix, threshold and how they were made) as JSON: numbers, and for a large precision matrix its
lower triangle as little-endian float32 in base64 (``precision_tril_f32``); nothing is unpickled.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field

import numpy as np
import torch

FEATURE = "fc1-current"  # the bottleneck's input current, smoothed by the readout
FEATURE_CONV = "fc1-input"  # the last conv block's spikes (fc1's input), smoothed by the readout
FEATURES = (FEATURE, FEATURE_CONV)
SHRINKAGE = 1e-3  # ridge on the covariance (relative to its mean variance): stays invertible
# the conv feature's ridge: 576 values from ~200 digits' correlated slices; 0.3 was the best of
# 1e-3..0.3 on synthetic non-digits at 2% held-out digits (docs/benchmarks.md), never on real files
SHRINKAGE_CONV = 0.3
PACKED_ABOVE = 64  # precision matrices of more dimensions are stored packed (base64 float32)


def feature_dims(config) -> dict[str, int]:
    """How many values each feature has for a network of ``config`` (``nn.model.ModelConfig``)."""
    from r2etl_core.nn.model import BOTTLENECK_FEATURES, TRUNK_CFG, trunk_output_size

    side = trunk_output_size(config.input_size)
    return {FEATURE: config.channels(BOTTLENECK_FEATURES),
            FEATURE_CONV: config.channels(TRUNK_CFG[-1][0]) * side * side}


def _pack(matrix: np.ndarray) -> str:
    return base64.b64encode(matrix[np.tril_indices(len(matrix))].astype("<f4").tobytes()).decode("ascii")


def _unpack(text: object, dims: int) -> np.ndarray:
    if not isinstance(text, str):
        raise ValueError("unknown.precision_tril_f32: must be a base64 string")
    try:
        flat = np.frombuffer(base64.b64decode(text, validate=True), dtype="<f4").astype(np.float64)
    except ValueError as exc:
        raise ValueError(f"unknown.precision_tril_f32: not base64 ({exc})") from None
    if len(flat) != dims * (dims + 1) // 2:
        raise ValueError(f"unknown.precision_tril_f32: {len(flat)} values, a {dims}x{dims} triangle has "
                         f"{dims * (dims + 1) // 2}")
    out = np.zeros((dims, dims))
    out[np.tril_indices(dims)] = flat
    return out + np.tril(out, -1).T


@dataclass(frozen=True)
class UnknownDetector:
    """``means`` [C, D], ``precision`` [D, D] (inverse shared covariance), ``threshold``: slices
    whose score is above it are "unknown". ``calibration``: how it was made (for people)."""

    means: np.ndarray = field(repr=False)
    precision: np.ndarray = field(repr=False)
    threshold: float
    calibration: dict = field(default_factory=dict)
    feature: str = FEATURE  # which of FEATURES the means are of

    @property
    def num_classes(self) -> int:
        return int(self.means.shape[0])

    @property
    def dims(self) -> int:
        return int(self.means.shape[1])

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Smallest squared Mahalanobis distance to a class mean, per row of ``features`` [N, D]
        (whitened once: ``d^T P d = |L^T d|^2`` with ``P = L L^T``)."""
        factor = np.linalg.cholesky((self.precision + self.precision.T) / 2)
        white, means = features @ factor, self.means @ factor
        d2 = (white ** 2).sum(1)[:, None] - 2 * white @ means.T + (means ** 2).sum(1)[None]
        return np.maximum(d2, 0.0).min(1)

    def torch_scorer(self, device: torch.device) -> "TorchScorer":
        return TorchScorer(self, device)

    def to_dict(self) -> dict:
        if self.dims > PACKED_ABOVE:
            matrix = {"precision_tril_f32": _pack(self.precision)}
            means = np.round(self.means, 6).tolist()
        else:
            matrix, means = {"precision": self.precision.tolist()}, self.means.tolist()
        return {"feature": self.feature, "means": means, **matrix, "threshold": float(self.threshold),
                "calibration": self.calibration}

    @staticmethod
    def from_dict(d: object, num_classes: int, dims: int | dict[str, int]) -> "UnknownDetector":
        """ValueError naming the key when ``d`` is not a detector for ``num_classes`` classes and
        ``dims`` values (per feature when a dict: ``feature_dims``)."""
        if not isinstance(d, dict):
            raise ValueError("unknown: must be a JSON object")
        feature = d.get("feature", FEATURE)
        if feature not in FEATURES:
            raise ValueError(f"unknown.feature: {feature!r} is not known (this version: {', '.join(FEATURES)})")
        if isinstance(dims, dict):
            dims = dims[feature]
        try:
            means = np.asarray(d["means"], dtype=np.float64)
            precision = (_unpack(d["precision_tril_f32"], dims) if "precision_tril_f32" in d
                         else np.asarray(d["precision"], dtype=np.float64))
            threshold = float(d["threshold"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"unknown: needs numeric means, precision and threshold ({exc})") from None
        except ValueError as exc:
            if str(exc).startswith("unknown."):
                raise
            raise ValueError(f"unknown: needs numeric means, precision and threshold ({exc})") from None
        if means.shape != (num_classes, dims):
            raise ValueError(f"unknown.means: shape {means.shape}, the network needs {(num_classes, dims)}")
        if precision.shape != (dims, dims):
            raise ValueError(f"unknown.precision: shape {precision.shape}, the network needs {(dims, dims)}")
        if not (np.isfinite(means).all() and np.isfinite(precision).all() and np.isfinite(threshold)):
            raise ValueError("unknown: means, precision and threshold must be finite")
        if threshold <= 0:
            raise ValueError(f"unknown.threshold: must be positive, got {threshold}")
        calibration = d.get("calibration", {})
        return UnknownDetector(means, precision, threshold, calibration if isinstance(calibration, dict) else {},
                               feature)


def effective_threshold(detector: UnknownDetector | None, chosen: float) -> float | None:
    """The distance above which a slice is "unknown" for a readout's ``unknown_threshold``
    (0: the calibrated one, inf: off); None when off or the model has no detector."""
    if detector is None or math.isinf(chosen):
        return None
    return chosen or detector.threshold


class TorchScorer:
    """The detector's scores on the model's device: one small product per run of slices. With
    the precision factored as ``L L^T`` (Cholesky), ``d^T P d = |L^T d|^2``: the features and the
    means are whitened once, and the score is a squared distance to the nearest whitened mean."""

    def __init__(self, detector: UnknownDetector, device: torch.device):
        factor = np.linalg.cholesky((detector.precision + detector.precision.T) / 2)
        self.factor = torch.as_tensor(factor, dtype=torch.float32, device=device)
        self.means = torch.as_tensor(detector.means @ factor, dtype=torch.float32, device=device)

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        white = features.float() @ self.factor  # [N, D]
        return (white[:, None, :] - self.means[None]).square().sum(-1).amin(1)


def fit_detector(features: np.ndarray, labels: np.ndarray, num_classes: int, quantile: float,
                 negatives: np.ndarray | None = None, calibration: dict | None = None,
                 threshold_features: np.ndarray | None = None, feature: str = FEATURE,
                 shrinkage: float = SHRINKAGE) -> UnknownDetector:
    """Class means and shared covariance of ``features`` [N, D] (``labels`` [N] in 0..C-1); the
    threshold is the ``quantile`` of the classes' own scores on ``threshold_features`` (held-out
    slices of the classes; default: ``features``). With ``negatives`` (scores of
    slices known to be none of the classes), the threshold moves up to halfway (in log) towards
    their 10th percentile when that is higher, so fewer class slices are called unknown
    without losing more than ~10% of the negatives."""
    missing = [c for c in range(num_classes) if not np.any(labels == c)]
    if missing:
        raise ValueError(f"no calibration slices for class(es) {missing}")
    means = np.stack([features[labels == c].mean(0) for c in range(num_classes)])
    centred = features - means[labels]
    cov = centred.T @ centred / len(features)
    spread = float(np.trace(cov)) / len(cov)
    if not spread > 1e-9:
        raise ValueError("the network's features do not vary over the calibration slices (is it trained?)")
    cov += shrinkage * spread * np.eye(len(cov))
    precision = np.linalg.inv(cov)
    provisional = UnknownDetector(means, precision, 1.0, feature=feature)
    held = features if threshold_features is None or not len(threshold_features) else threshold_features
    own = provisional.scores(held)
    threshold = float(np.quantile(own, quantile))
    info = dict(calibration or {}, quantile=quantile, shrinkage=shrinkage, class_slices=int(len(features)),
                threshold_slices=int(len(held)),
                own_score_quantiles={str(q): round(float(np.quantile(own, q)), 3) for q in (0.5, 0.9, 0.99)})
    if negatives is not None and len(negatives):
        neg = provisional.scores(negatives)
        low = float(np.quantile(neg, 0.1))
        if low > threshold:
            threshold = float(np.sqrt(threshold * low))
        info.update(negative_slices=int(len(negatives)),
                    negatives_unknown=round(float((neg > threshold).mean()), 4))
    info["own_unknown"] = round(float((own > threshold).mean()), 4)
    return UnknownDetector(means, precision, threshold, info, feature)
