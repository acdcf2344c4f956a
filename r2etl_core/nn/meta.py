"""What a model is, as data: the metadata a model file carries beside its weights.

``ModelMeta`` describes the network (architecture, input size, T), how a stream is sliced for
it, its class names, training provenance and metrics. It knows its JSON form and checks every
number against the ranges training itself uses (``r2etl_core.limits``) before anything is built
from it, so a bad header is a ``ModelError`` naming the file and the key, never a TypeError from
deep inside torch. Reading and writing the file itself is ``r2etl_core.io.modelfile``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from r2etl_core import __version__, limits
from r2etl_core.errors import InputError, ModelError
from r2etl_core.nn.model import ModelConfig
from r2etl_core.nn.unknown import UnknownDetector, feature_dims
from r2etl_core.parse import brief, check_choice, check_number, check_whole, shown
from r2etl_core.types import DEFAULT_SLICE_US, SliceByCount, SliceByTime

FORMAT_NAME = "r2etl-model"
FORMAT_VERSION = 1
JSON_KINDS = {list: "a list", str: "a string", int: "a number", float: "a number", bool: "true/false",
              type(None): "null"}


@dataclass(frozen=True)
class SlicingSpec:
    """How the model's input frames were made; the viewer slices live streams the same way."""

    mode: str = "time"  # "time" (slice_us per step) or "count" (events per step)
    slice_us: int = DEFAULT_SLICE_US
    events_per_slice: int = 0
    sensor_width: int = 34  # sensor the training data came from
    sensor_height: int = 34

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @staticmethod
    def from_dict(d: dict) -> "SlicingSpec":
        return SlicingSpec(**{k: d[k] for k in SlicingSpec.__dataclass_fields__ if k in d})

    def slicer(self) -> SliceByTime | SliceByCount:
        """The slicer that cuts a stream the way these training frames were made (the engine's
        default and ``StreamSettings.slicing_for``'s)."""
        return SliceByCount(self.events_per_slice) if self.mode == "count" else SliceByTime(self.slice_us)


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


def check_meta_dict(d: object, where: str | Path, format_name: str, format_version: int) -> dict:
    """``d`` (parsed metadata JSON) if it is an r2etl model description with every number in
    range; else ModelError(where, "model metadata: KEY: PROBLEM")."""
    if not isinstance(d, dict):
        raise ModelError(where, f"model metadata is {JSON_KINDS.get(type(d), type(d).__name__)}, "
                                "expected a JSON object (not an r2etl model)")
    if d.get("format") != format_name:
        raise ModelError(where, "not an r2etl model (metadata has no r2etl format tag)")
    version = d.get("format_version", 0)
    try:
        version = check_whole("format_version", version, 0, 1_000_000)
    except InputError as exc:
        raise ModelError(where, f"model metadata: {exc}") from None
    if version > format_version:
        raise ModelError(where, f"model format {version} is newer than this r2etl understands")
    for key in ("model", "class_names"):
        if key not in d:
            raise ModelError(where, f"model metadata lacks '{key}'")
    try:
        _check_sections(d)
    except InputError as exc:
        raise ModelError(where, f"model metadata: {exc}") from None
    return d


def _table(d: dict, key: str, required: bool = False) -> dict:
    value = d.get(key, {} if not required else None)
    if not isinstance(value, dict):
        raise InputError(key, f"must be a JSON object, got {shown(value)}")
    return value


def _check_sections(d: dict) -> None:
    model = _table(d, "model", required=True)
    check_whole("model.num_classes", model.get("num_classes", 10), *limits.NUM_CLASSES)
    check_whole("model.input_size", model.get("input_size", 34), *limits.INPUT_SIZE, "pixels")
    check_whole("model.time_steps", model.get("time_steps", 10), *limits.TIME_STEPS)
    check_number("model.width", model.get("width", 1.0), *limits.WIDTH)
    if not isinstance(model.get("arch", ""), str):
        raise InputError("model.arch", f"must be a string, got {shown(model['arch'])}")
    names = d["class_names"]
    if not isinstance(names, list) or not all(isinstance(n, (str, int)) for n in names):
        raise InputError("class_names", f"must be a list of names, got {shown(names)}")
    slicing = _table(d, "slicing")
    mode = check_choice("slicing.mode", slicing.get("mode", "time"), limits.FRAME_MODES)
    if mode == "time":
        check_whole("slicing.slice_us", slicing.get("slice_us", 30_000), *limits.SLICE_US, "us")
    else:
        check_whole("slicing.events_per_slice", slicing.get("events_per_slice", 0), *limits.EVENTS_PER_SLICE)
    for side in ("sensor_width", "sensor_height"):
        check_whole(f"slicing.{side}", slicing.get(side, 34), *limits.SENSOR_SIDE, "pixels")
    for key in ("normalisation", "training", "metrics"):
        _table(d, key)
