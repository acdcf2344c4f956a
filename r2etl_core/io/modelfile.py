"""Model files: safetensors weights with our JSON metadata in the safetensors header.

One file carries everything the viewer needs (architecture, input size, T, slicing, class
names, training provenance, metrics). Nothing is ever unpickled. Writes are atomic: a file
is written beside the target and renamed over it, so a failed save never replaces a good model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from r2etl_core import __version__
from r2etl_core.errors import ModelError
from r2etl_core.io.files import atomic_write, check_input_file
from r2etl_core.io.modelcheck import check_meta_dict, check_weights_finite
from r2etl_core.nn.model import ModelConfig, R2ETLNet, build_model
from r2etl_core.nn.unknown import UnknownDetector, feature_dims
from r2etl_core.parse import brief
from r2etl_core.types import SlicingSpec

FORMAT_NAME = "r2etl-model"
FORMAT_VERSION = 1
METADATA_KEY = "r2etl"
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
# The default of the viewer, `r2etl classify` and the demo: the model that did best on continuous
# streams (digits, noise, other things: docs/benchmarks.md, "Knowing what it doesn't know").
DEFAULT_MODEL_PATH = MODELS_DIR / "nmnist-r2etl-live-tuned.safetensors"
CLEAN_MODEL_PATH = MODELS_DIR / "nmnist-r2etl.safetensors"  # best on clean samples cut at t = 0 (97.55%)
LIVE_MODEL_PATH = MODELS_DIR / "nmnist-r2etl-live.safetensors"  # the live recipe from scratch


@dataclass(frozen=True)
class ModelMeta:
    config: ModelConfig
    class_names: tuple[str, ...]
    slicing: SlicingSpec = SlicingSpec()
    normalisation: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)  # data, command, mode, held-out sample ids
    metrics: dict = field(default_factory=dict)
    package_version: str = __version__
    unknown: dict = field(default_factory=dict)  # the "not one of my classes" detector (nn.unknown); {}: none

    def unknown_detector(self) -> UnknownDetector | None:
        """The calibrated detector, or None for a model file made before it existed."""
        if not self.unknown:
            return None
        return UnknownDetector.from_dict(self.unknown, self.config.num_classes, feature_dims(self.config))

    def to_json(self) -> str:
        return json.dumps({
            "format": FORMAT_NAME, "format_version": FORMAT_VERSION,
            "model": self.config.to_dict(), "class_names": list(self.class_names),
            "slicing": self.slicing.to_dict(), "normalisation": self.normalisation,
            "training": self.training, "metrics": self.metrics,
            "package_version": self.package_version, **({"unknown": self.unknown} if self.unknown else {}),
        })

    @staticmethod
    def from_json(text: str, where: str | Path) -> "ModelMeta":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelError(where, f"model metadata is not valid JSON ({exc.msg})") from None
        except (ValueError, RecursionError) as exc:  # too many digits, nested too deep
            raise ModelError(where, f"model metadata is not usable JSON ({brief(exc)})") from None
        d = check_meta_dict(d, where, FORMAT_NAME, FORMAT_VERSION)
        config = ModelConfig.from_dict(d["model"])
        names = tuple(str(n) for n in d["class_names"])
        if len(names) != config.num_classes:
            raise ModelError(where, f"metadata lists {len(names)} class names for {config.num_classes} classes")
        meta = ModelMeta(config, names, SlicingSpec.from_dict(d.get("slicing", {})),
                         d.get("normalisation", {}), d.get("training", {}), d.get("metrics", {}),
                         d.get("package_version", "?"), d.get("unknown") or {})
        try:
            meta.unknown_detector()
        except ValueError as exc:
            raise ModelError(where, f"model metadata: {exc}") from None
        return meta


def save_model(model: R2ETLNet, meta: ModelMeta, path: str | Path) -> Path:
    """Write atomically: a crash mid-write leaves the previous file untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_write(path) as tmp:
        save_file(tensors, str(tmp), metadata={METADATA_KEY: meta.to_json()})
    return path


def read_meta(path: str | Path) -> ModelMeta:
    """Metadata only (cheap): for ``r2etl info`` and the model picker."""
    path = Path(path)
    _check_file(path)
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(path, f"not a readable safetensors model file ({_short(exc)})") from None
    if METADATA_KEY not in header:
        raise ModelError(path, "safetensors file without r2etl metadata (not an r2etl model)")
    return ModelMeta.from_json(header[METADATA_KEY], path)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[R2ETLNet, ModelMeta]:
    """Load weights + metadata; reject files whose weights do not match their metadata."""
    path = Path(path)
    meta = read_meta(path)
    try:
        model = build_model(meta.config)
    except ValueError as exc:
        raise ModelError(path, str(exc)) from None
    except (RuntimeError, MemoryError) as exc:  # allocation failed: the network is too big for here
        raise ModelError(path, f"the {meta.config.arch} network in its metadata does not fit in memory "
                               f"(input {meta.config.input_size}, width {meta.config.width}): {_short(exc)}") from None
    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(path, f"weights are unreadable ({_short(exc)})") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        what = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise ModelError(path, f"weights do not match the {meta.config.arch} architecture in its metadata ({what})")
    for name, tensor in tensors.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise ModelError(path, f"weight {name} has shape {tuple(tensor.shape)}, metadata implies "
                                   f"{tuple(expected[name].shape)} (model and metadata disagree)")
    check_weights_finite(tensors, path)
    model.load_state_dict(tensors, strict=True)
    model.eval()
    return model.to(device), meta


def _check_file(path: Path) -> None:
    check_input_file(path, "model file", ModelError)


def _short(exc: Exception) -> str:
    return brief(exc)
