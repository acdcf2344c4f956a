"""Training configuration: frozen dataclasses and the allowed range of every value.

``validate`` checks a whole config, so a TOML file, a ``--set`` override and a shortcut flag
(``--steps``) get the same checks; ranges the model file shares (T, input size, width, slice
length) come from ``r2etl_core.limits``. Reading a config from TOML (and its overrides) is
``r2etl_core.train.config_file``. Relative paths are taken relative to the current folder.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from r2etl_core import limits
from r2etl_core.errors import InputError
from r2etl_core.io.files import check_output_dir
from r2etl_core.parse import check_choice, check_device, check_number, check_whole, cuda_available, shown

MODES = ("r2etl", "events-only", "joint-no-align", "eam-only", "fam-only")
EVENT_KINDS = ("nmnist", "ncaltech101", "cifar10dvs", "aedat4")
IMAGE_KINDS = ("mnist", "cifar10", "caltech101", "imagefolder", "aedat4-frames")  # + a DAVIS's APS frames
SPLITS = ("shared-nmnist", "every-nth", "folder", "by-recording", "by-time", "auto")
# labelled .aedat4: whole recordings held out, or (a few short clips) the end of every segment
RECORDING_SPLITS = ("by-recording", "folder", "by-time", "auto")
SCHEDULERS = ("step", "cosine", "none")
PAIRINGS = ("class", "instance")  # data.pairing; instances.py builds the instance pairs
INIT_SCHEMES = ("default", "kaiming")  # model.init_scheme; r2etl_core.nn.model.apply_init_scheme
AMP = ("auto", "on", "off")
SEED_MAX = 2**32 - 1  # numpy seeds
OFFSET_SUBSLICES = 3  # data.augment_offset: a slice is cut into this many parts (10 ms of 30 ms)
MANY = 100_000_000  # an upper bound for counts that have no natural one (steps, epochs)


@dataclass(frozen=True)
class DataConfig:
    events: str = "nmnist"  # nmnist | ncaltech101 | cifar10dvs | aedat4 (labelled recordings)
    events_dir: str = "../shared/data/nmnist/Train"
    images: str = "mnist"  # mnist | cifar10 | caltech101 | imagefolder (one sub-folder per class)
    images_path: str = "../shared/data/mnist/mnist3750.npz"
    split: str = "shared-nmnist"  # shared-nmnist | every-nth (val_every) | folder (val_dir) | by-recording
    val_every: int = 5  # every-nth: per class, sorted index % val_every == 0 is validation;
    #   by-recording: about one recording in val_every per class is held out whole
    val_dir: str = ""
    val_fold: int = 0  # shared-nmnist / every-nth: sorted index % val_every == val_fold is validation
    #   (cross-validation folds 0..val_every-1; fold 0 is the fixed split)
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
    augment_noise_hz: float = 0.0  # background activity added to training frames, up to this rate
    augment_offset: float = 0.0  # share of training windows that start at a random 10 ms phase of
    #   their sample, the sample repeated as a held object (time slicing only)
    cache_dir: str = "cache"
    window_stride_slices: int = 2  # aedat4: a training window starts every this many slices (0: from the data)
    roi: str = ""  # aedat4: "x,y,size" sensor pixels; "" = the centred square (the viewer's default)
    pairing: str = "class"  # class (same-class image) | instance (nmnist+mnist: the sample's own source image)


@dataclass(frozen=True)
class ModelSection:
    width: float = 1.0
    init: str = ""  # start from this model file (fine-tune, or a new classifier for new classes)
    init_scheme: str = "default"  # default (torch's) | kaiming (the authors': normal, fan_out)


@dataclass(frozen=True)
class OptimConfig:
    batch_size: int = 32  # 0: from the amount of data (train.datasets.small_data)
    lr: float = 1e-4
    epochs: int = 80
    steps: int = 0  # > 0: total optimiser steps (overrides epochs); 0 with epochs 0: from the data
    scheduler: str = "step"  # step (StepLR per epoch) | cosine (per step) | none
    lr_step: int = 10  # StepLR step size, epochs
    lr_gamma: float = 0.5
    ema_decay: float = 0.0  # > 0: evaluate, checkpoint and ship an EMA of the weights (train/ema.py)


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
    diag_every: int = 0  # steps between per-term gradient-share diagnostics on the trunk; 0 = never


@dataclass(frozen=True)
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelSection = field(default_factory=ModelSection)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# -- allowed values: one check per key, the same for TOML, --set and flags --------------

def validate(cfg: TrainConfig) -> None:
    """InputError(key, problem) for the first value outside its allowed range."""
    _check_data(cfg)
    _check_optim(cfg)
    _check_run(cfg)
    check_number("model.width", cfg.model.width, *limits.WIDTH)
    check_choice("model.init_scheme", cfg.model.init_scheme, INIT_SCHEMES)
    check_choice("loss.mode", cfg.loss.mode, MODES)
    check_number("loss.w_enc", cfg.loss.w_enc, 0, 1000)
    check_number("loss.w_fea", cfg.loss.w_fea, 0, 1000)


def _fraction(key: str, value: float) -> None:
    if not 0.0 < value <= 1.0:
        raise InputError(key, f"must be in (0, 1] (a fraction of the samples of each class), got {value}")


def _check_data(cfg: TrainConfig) -> None:
    d = cfg.data
    check_choice("data.events", d.events, EVENT_KINDS)
    check_choice("data.images", d.images, IMAGE_KINDS)
    check_choice("data.split", d.split, SPLITS)
    check_whole("data.val_every", d.val_every, 2, 1000)
    check_whole("data.val_fold", d.val_fold, 0, d.val_every - 1)
    _fraction("data.event_fraction", d.event_fraction)
    _fraction("data.image_fraction", d.image_fraction)
    check_whole("data.subset_seed", d.subset_seed, 0, SEED_MAX)
    check_choice("data.frame_mode", d.frame_mode, limits.FRAME_MODES)
    check_whole("data.slice_us", d.slice_us, *limits.SLICE_US, "us")
    check_choice("data.time_origin", d.time_origin, limits.TIME_ORIGINS)
    check_whole("data.time_steps", d.time_steps, *limits.TIME_STEPS)
    check_whole("data.input_size", d.input_size, *limits.INPUT_SIZE, "pixels")
    check_whole("data.augment_shift", d.augment_shift, 0, d.input_size - 1, "pixels")
    check_number("data.augment_noise_hz", d.augment_noise_hz, 0.0, 1000.0, "events/s per pixel")
    check_number("data.augment_offset", d.augment_offset, 0.0, 1.0)
    if d.augment_offset > 0 and (d.frame_mode != "time" or d.events == "aedat4"
                                 or d.slice_us % OFFSET_SUBSLICES):
        raise InputError("data.augment_offset", "random offsets need time-sliced sample datasets (not "
                                                "aedat4 recordings, which are cut at every offset already) "
                                                f"and data.slice_us divisible by {OFFSET_SUBSLICES}")
    check_whole("data.window_stride_slices", d.window_stride_slices, 0, limits.TIME_STEPS[1])
    if d.roi:
        parse_roi(d.roi)
    check_choice("data.pairing", d.pairing, PAIRINGS)
    if d.images == "aedat4-frames" and d.events != "aedat4":
        raise InputError("data.images", "'aedat4-frames' are the frames of labelled recordings: data.events = 'aedat4'")
    if d.pairing == "instance" and (d.events, d.images) not in (("nmnist", "mnist"), ("aedat4", "aedat4-frames")):
        raise InputError("data.pairing", f"'instance' needs instance ids (N-MNIST sample N = MNIST image N - 1, or "
                                         f"a recording's own frames): nmnist + mnist or aedat4 + aedat4-frames, got "
                                         f"{shown(d.events)} / {shown(d.images)}; use 'class'")
    _check_recording_data(d)


def _check_recording_data(d: DataConfig) -> None:
    """Labelled recordings are cut on the live engine's time grid and split whole."""
    if d.events != "aedat4":
        if d.split == "by-recording":
            raise InputError("data.split", "'by-recording' is for data.events = 'aedat4' (labelled recordings)")
        return
    if d.split not in RECORDING_SPLITS:
        raise InputError("data.split", f"labelled recordings are never split window by window: use 'auto', "
                                       f"'by-recording', 'by-time' or 'folder' (data.val_dir), got {shown(d.split)}")
    if d.frame_mode != "time":
        raise InputError("data.frame_mode", "labelled recordings are cut into time slices: use 'time'")


def parse_roi(text: str) -> tuple[int, int, int]:
    """``"x,y,size"`` -> (x, y, size) sensor pixels of the square region a model sees."""
    parts = text.split(",")
    try:
        x, y, size = (int(v) for v in parts)
    except ValueError:
        raise InputError("data.roi", f"must look like x,y,size in sensor pixels, e.g. 40,0,260, "
                                     f"got {shown(text)}") from None
    if x < 0 or y < 0 or size < 1:
        raise InputError("data.roi", f"x and y must be >= 0 and size >= 1, got {shown(text)}")
    return x, y, size


def _check_optim(cfg: TrainConfig) -> None:
    o = cfg.optim
    if o.batch_size != 0:  # 0: from the amount of data
        check_whole("optim.batch_size", o.batch_size, 2, 65_536)  # 2: CKA compares samples in a batch
    check_number("optim.lr", o.lr, 1e-9, 10.0)
    check_whole("optim.epochs", o.epochs, 0, MANY)  # 0 with steps 0: from the amount of data
    check_whole("optim.steps", o.steps, 0, MANY)  # 0: run optim.epochs instead
    check_choice("optim.scheduler", o.scheduler, SCHEDULERS)
    check_whole("optim.lr_step", o.lr_step, 1, MANY)
    check_number("optim.lr_gamma", o.lr_gamma, 1e-6, 1.0)
    decay = check_number("optim.ema_decay", o.ema_decay, 0.0, 0.99999)
    if 0 < decay < 0.5:
        raise InputError("optim.ema_decay", f"must be 0 (off) or between 0.5 and 0.99999, got {o.ema_decay}")


def _check_run(cfg: TrainConfig) -> None:
    r = cfg.run
    if not r.out_dir.strip():
        raise InputError("run.out_dir", "must name an output folder, got an empty string")
    check_whole("run.seed", r.seed, 0, SEED_MAX)
    check_whole("run.eval_every", r.eval_every, 0, MANY)  # 0: once per epoch
    check_whole("run.diag_every", r.diag_every, 0, MANY)  # 0: no gradient-share diagnostics
    check_whole("run.threads", r.threads, 0, 4096)  # 0: torch's default
    check_choice("run.amp", r.amp, AMP)
    if r.device != "auto":
        try:
            check_device(r.device)
        except InputError as exc:
            raise InputError("run.device", exc.problem) from None
    if r.amp == "on" and (r.device == "cpu" or (r.device == "auto" and not cuda_available())):
        raise InputError("run.amp", "'on' needs a CUDA device (mixed precision is CUDA only); use auto or off")


def check_run_paths(cfg: TrainConfig) -> None:
    """The output, cache and export paths can be written: checked before any data is read."""
    check_output_dir(cfg.run.out_dir, "training output (run.out_dir)")
    if cfg.data.cache_dir:
        check_output_dir(cfg.data.cache_dir, "frame cache (data.cache_dir)")
    if cfg.run.export:
        check_output_dir(Path(cfg.run.export).parent, f"exported model {cfg.run.export} (run.export)")
        if Path(cfg.run.export).is_dir():
            raise InputError(cfg.run.export, "is a folder, expected a model file path (run.export)")
