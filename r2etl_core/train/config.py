"""Training configuration: frozen dataclasses, parsed from TOML (+ ``section.key=value`` overrides) here only.

Unknown sections or keys are errors that name the key, so a typo never silently trains with a
default. Relative paths are taken relative to the current folder.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from r2etl_core.errors import InputError

MODES = ("r2etl", "events-only", "joint-no-align", "eam-only", "fam-only")


@dataclass(frozen=True)
class DataConfig:
    events: str = "nmnist"  # nmnist | ncaltech101 | cifar10dvs
    events_dir: str = "../shared/data/nmnist/Train"
    images: str = "mnist"  # mnist | cifar10 | caltech101
    images_path: str = "../shared/data/mnist/mnist3750.npz"
    split: str = "shared-nmnist"  # shared-nmnist | every-nth (val_every) | folder (val_dir)
    val_every: int = 5  # every-nth: per class, sorted index % val_every == 0 is validation
    val_dir: str = ""
    event_fraction: float = 1.0  # per class, of the training event samples
    image_fraction: float = 1.0  # per class, of the images
    subset_seed: int = 0
    frame_mode: str = "time"  # time | count
    slice_us: int = 30_000
    time_origin: str = "zero"  # zero | first
    time_steps: int = 10
    input_size: int = 34
    augment_flip: bool = True
    augment_shift: int = 5
    cache_dir: str = "cache"


@dataclass(frozen=True)
class ModelSection:
    width: float = 1.0


@dataclass(frozen=True)
class OptimConfig:
    batch_size: int = 32
    lr: float = 1e-4
    epochs: int = 80
    steps: int = 0  # > 0: total optimiser steps (overrides epochs)
    scheduler: str = "step"  # step (StepLR per epoch) | cosine (per step) | none
    lr_step: int = 10  # StepLR step size, epochs
    lr_gamma: float = 0.5


@dataclass(frozen=True)
class LossConfig:
    mode: str = "r2etl"
    w_enc: float = 0.1
    w_fea: float = 0.1


@dataclass(frozen=True)
class RunConfig:
    out_dir: str = "runs/train"
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    amp: str = "auto"  # auto (on for CUDA only) | on | off
    eval_every: int = 0  # steps between evaluations; 0 = once per epoch
    threads: int = 0  # torch CPU threads; 0 = torch default
    resume: bool = False  # continue from out_dir/last.safetensors
    export: str = ""  # also copy the best model here at the end
    progress: bool = True


@dataclass(frozen=True)
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelSection = field(default_factory=ModelSection)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


SECTIONS = {f.name: f.default_factory for f in dataclasses.fields(TrainConfig)}


def _coerce(where: str, key: str, value: Any, default: Any) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise InputError(where, f"'{key}' must be true or false, got {value!r}")
        return value
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type(value) is not type(default):
        raise InputError(where, f"'{key}' must be a {type(default).__name__}, got {value!r}")
    return value


def config_from_dict(d: dict, where: str = "config") -> TrainConfig:
    sections = {}
    for name, value in d.items():
        if name not in SECTIONS:
            raise InputError(where, f"unknown config section '{name}' (known: {', '.join(SECTIONS)})")
        if not isinstance(value, dict):
            raise InputError(where, f"'{name}' must be a [{name}] table")
        default = SECTIONS[name]()
        known = {f.name: getattr(default, f.name) for f in dataclasses.fields(default)}
        for key in value:
            if key not in known:
                raise InputError(where, f"unknown config key '{name}.{key}' (known in [{name}]: {', '.join(known)})")
        sections[name] = dataclasses.replace(
            default, **{k: _coerce(where, f"{name}.{k}", v, known[k]) for k, v in value.items()})
    cfg = TrainConfig(**sections)
    validate(cfg, where)
    return cfg


def validate(cfg: TrainConfig, where: str) -> None:
    if cfg.loss.mode not in MODES:
        raise InputError(where, f"unknown loss.mode '{cfg.loss.mode}' (known: {', '.join(MODES)})")
    if not 0.0 < cfg.data.event_fraction <= 1.0 or not 0.0 < cfg.data.image_fraction <= 1.0:
        raise InputError(where, "data.event_fraction and data.image_fraction must be in (0, 1]")
    if cfg.data.split not in ("shared-nmnist", "every-nth", "folder"):
        raise InputError(where, f"unknown data.split '{cfg.data.split}' (shared-nmnist, every-nth, folder)")
    if cfg.data.val_every < 2:
        raise InputError(where, "data.val_every must be at least 2")
    if cfg.optim.scheduler not in ("step", "cosine", "none"):
        raise InputError(where, f"unknown optim.scheduler '{cfg.optim.scheduler}' (step, cosine, none)")
    if cfg.optim.batch_size < 2:
        raise InputError(where, "optim.batch_size must be at least 2 (CKA compares samples in a batch)")


def parse_override(text: str) -> tuple[str, str, Any]:
    """``section.key=value``; the value is parsed as TOML (so ``1e-3``, ``true``, ``"x"``), else a string."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise InputError(text, "override must look like section.key=value, e.g. optim.lr=1e-3")
    path, raw = text.split("=", 1)
    section, key = path.strip().split(".", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return section, key, value


def load_config(path: str | Path | None, overrides: list[str] = ()) -> TrainConfig:
    """Read a TOML file (or a packaged config name like ``shared-nmnist``) and apply overrides."""
    d: dict = {}
    where = "defaults"
    if path is not None:
        text, where = _read_config_text(str(path))
        try:
            d = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InputError(where, f"invalid TOML ({exc})") from None
    for item in overrides:
        section, key, value = parse_override(item)
        d.setdefault(section, {})[key] = value
    return config_from_dict(d, where)


def _read_config_text(name: str) -> tuple[str, str]:
    p = Path(name)
    if p.is_file():
        return p.read_text(), str(p)
    packaged = resources.files("r2etl_core") / "configs" / (p.stem + ".toml")
    if packaged.is_file():
        return packaged.read_text(), f"r2etl_core/configs/{p.stem}.toml"
    raise InputError(name, f"config file not found (packaged configs: {', '.join(packaged_configs())})")


def packaged_configs() -> list[str]:
    folder = resources.files("r2etl_core") / "configs"
    return sorted(f.name[:-5] for f in folder.iterdir() if f.name.endswith(".toml"))
