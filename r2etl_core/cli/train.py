"""``r2etl train`` and ``r2etl eval``: argparse front end (config parsing stays at this edge)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from r2etl_core.errors import InputError

TRAIN_HELP = """\
Train an R2ETL spiking network on labelled images + labelled event samples of the same classes.

The config is a TOML file or the name of a packaged one (shared-nmnist, shared-nmnist-ema,
shared-nmnist-wide, shared-nmnist-live, nmnist, cifar10dvs, ncaltech101). Any setting can be
overridden with --set section.key=value; the common ones have their own flags. Datasets are
read from local folders only (nothing is downloaded).

Your own classes (docs/own-classes.md): --data aedat4:DIR takes every event recording under DIR
(.aedat4, or .raw, .dat, .es, .csv, .h5/.hdf5, jAER .aedat) with its labels sidecar
(<name>.labels.csv), cut into windows of T slices inside each labelled segment, binned as
the viewer bins; whole recordings are held out for validation, or, with one recording per
class, the last quarter of every labelled stretch. Without --config the run is sized from the
data (window stride, batch, steps) and, without --images, trains on the events alone: a few
seconds per class need no other flag than --init.
--images imagefolder:DIR adds images (DIR/<class>/*.png|jpg, classes named as the labels).
--images aedat4-frames:DIR uses a DAVIS's own grey frames stored in the labelled recordings of DIR
instead, each labelled by the segment it falls in; with DIR = the --data folder, each window
is paired with a frame of the same moment (data.pairing="instance"). Measured on stand-ins it
did worse than --mode events-only (docs/own-classes.md): compare both on your recordings.
With --init MODEL and no --config, the model's width, T, input size and slice length are used.
Stretches labelled "unknown" or "none" in a sidecar are not a class: with --negatives DIR
(recordings of none of the classes) they calibrate the model's "unknown" answer, which every
run on nmnist or aedat4 data gets at its end (see r2etl calibrate --help).

examples:
  r2etl train --data aedat4:clips --images imagefolder:pictures --init MODEL --steps 300 --out runs/mine
                                                            teach it your own classes (MODEL: e.g. the
                                                            shipped r2etl_core/models/nmnist-r2etl.safetensors)
  r2etl train --data aedat4:clips --init MODEL --mode events-only --steps 300 --out runs/evt
  r2etl train --data aedat4:clips --images aedat4-frames:clips --init MODEL --steps 300 --out runs/aps
                                                            a DAVIS's own frames as the images
  r2etl train --config shared-nmnist                        the small-data recipe (clean frames)
  r2etl train --config shared-nmnist-ema                    the same, longer, with a weight average
  r2etl train --config shared-nmnist-wide                   the weight average, twice the channels
  r2etl train --config shared-nmnist-live                   the live-camera model (noise, random phases)
  r2etl train --config shared-nmnist --mode events-only --steps 500 --out runs/evt
  r2etl train --config my.toml --set optim.lr=2e-4 --set data.event_fraction=0.25
  r2etl train --config shared-nmnist --out runs/x --resume  continue runs/x/last.safetensors
  torchrun --nproc_per_node 2 -m r2etl_core.cli.main train ...   data-parallel (gloo on CPU)

writes to the --out folder: best.safetensors, last.safetensors (+ last-state for --resume),
metrics.csv, steps.jsonl, curves.png, confusion.png. With --ema the model files hold the
weight average (what is evaluated); metrics.csv also scores the raw weights (val_accuracy_raw).
"""

EVAL_HELP = """\
Accuracy, per-class accuracy and confusion matrix of a model's event branch on a dataset.

--data KIND:DIR where KIND is nmnist, ncaltech101 or cifar10dvs and DIR holds one folder per
class (for nmnist: DIR/0/00001.bin ... DIR/9/...), or aedat4 and DIR holds labelled recordings
(<name>.aedat4 or any other readable event file, + <name>.labels.csv; scored on
non-overlapping windows of T slices inside each labelled segment). Samples are framed exactly
as the model was trained (T, slicing, input size come from the model file).

examples:
  r2etl eval --data nmnist:../shared/data/nmnist/Train --split val   the model's held-out samples
  r2etl eval --data nmnist:DIR --model runs/x/best.safetensors --json
  r2etl eval --data aedat4:clips --model runs/mine/best.safetensors --split val   its held-out recordings
"""

DEFAULT_CONFIG = "shared-nmnist"

EVAL_BATCH_MAX = 65_536

SHORTCUTS = [  # (flag, config key, type, help)
    ("--mode", "loss.mode", str, "r2etl (default), events-only, joint-no-align, eam-only, fam-only"),
    ("--steps", "optim.steps", int, "total optimiser steps (overrides epochs)"),
    ("--epochs", "optim.epochs", int, "epochs (one epoch = one pass over the images)"),
    ("--lr", "optim.lr", float, "Adam learning rate"),
    ("--batch-size", "optim.batch_size", int, "pairs per batch"),
    ("--width", "model.width", float, "channel width multiplier (1.0 = paper's network)"),
    ("--seed", "run.seed", int, "random seed"),
    ("--out", "run.out_dir", str, "output folder (default with --data and no --config: runs/train)"),
    ("--event-fraction", "data.event_fraction", float, "fraction of training event samples per class"),
    ("--image-fraction", "data.image_fraction", float, "fraction of images per class"),
    ("--export", "run.export", str, "also copy the best model to this path"),
    ("--device", "run.device", str, "auto, cpu or cuda"),
    ("--init", "model.init", str, "start from this model file: fine-tune it, or (other classes) reuse its "
                                  "trunk with a new classifier"),
    ("--noise-hz", "data.augment_noise_hz", float, "add background noise up to this many events/s per "
                                                   "pixel to training frames (live cameras never go silent)"),
    ("--random-offsets", "data.augment_offset", float, "share (0-1) of training windows that start at a random "
                                                       "10 ms phase of their sample, held (for live streams)"),
    ("--ema", "optim.ema_decay", float, "keep an exponential moving average of the weights with this decay "
                                        "(e.g. 0.999; 0 = off); the average is evaluated and saved"),
    ("--val-fold", "data.val_fold", int, "cross-validation fold (0-4 with the default split; 0 = the fixed split)"),
]


def register(subparsers: argparse._SubParsersAction) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    p = subparsers.add_parser("train", help="train a model from a TOML config", description=TRAIN_HELP,
                              formatter_class=raw)
    p.add_argument("--config", default=None, metavar="TOML",
                   help=f"config file or packaged config name (default: {DEFAULT_CONFIG})")
    p.add_argument("--data", default=None, metavar="KIND:DIR",
                   help="event data: aedat4:DIR (labelled recordings, any event format), "
                        "or nmnist|ncaltech101|cifar10dvs:DIR")
    p.add_argument("--images", default=None, metavar="KIND:PATH",
                   help="images: imagefolder:DIR (one sub-folder per class), aedat4-frames:DIR (the APS frames "
                        "of labelled DAVIS recordings, e.g. the --data folder), or mnist|cifar10|caltech101:PATH")
    p.add_argument("--val-dir", default=None, metavar="DIR",
                   help="validate on this folder instead of holding out part of --data (data.split=folder)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one config value (repeatable), e.g. optim.lr=1e-3")
    for flag, _, typ, text in SHORTCUTS:
        p.add_argument(flag, type=typ, default=None, help=text)
    p.add_argument("--negatives", default=None, metavar="DIR",
                   help="recordings (.aedat4) of none of the classes: used to calibrate the 'unknown' answer")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.safetensors")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_train)

    e = subparsers.add_parser("eval", help="accuracy of a model on an event dataset", description=EVAL_HELP,
                              formatter_class=raw)
    e.add_argument("--data", required=True, metavar="KIND:DIR", help="e.g. nmnist:../shared/data/nmnist/Train")
    e.add_argument("--model", default=None, metavar="FILE", help="model file (default: the shipped model)")
    e.add_argument("--split", choices=("all", "val"), default="all",
                   help="all samples in DIR, or only the validation samples held out in the model's training")
    e.add_argument("--batch-size", type=int, default=64,
                   help=f"samples per forward pass, 1..{EVAL_BATCH_MAX} (default %(default)s)")
    e.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: CUDA when present)")
    e.add_argument("--cache-dir", default=None, help="cache binned frames here (default: no cache)")
    e.add_argument("--confusion-png", default=None, metavar="PNG", help="also save the confusion matrix")
    e.add_argument("--json", action="store_true", help="print the result as one JSON object (last line)")
    e.set_defaults(func=run_eval)


def overrides_from_args(args: argparse.Namespace) -> list[str]:
    out = list(args.set)
    for flag, key, typ, _ in SHORTCUTS:
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None:
            out.append(f"{key}={json.dumps(value) if typ is str else value}")
    if args.resume:
        out.append("run.resume=true")
    if args.no_progress:
        out.append("run.progress=false")
    return out


def named_by_flag(exc: InputError, args: argparse.Namespace) -> InputError:
    """``exc`` about a config key the user set with a shortcut flag, renamed to name that flag
    too (``--steps (optim.steps): ...``): the user typed ``--steps``, not the key."""
    given = {key: flag for flag, key, _, _ in SHORTCUTS if getattr(args, flag[2:].replace("-", "_")) is not None}
    for flag, keys in SPEC_FLAGS.items():
        if getattr(args, flag[2:].replace("-", "_")) is not None:
            given.update({key: flag for key in keys})
    if exc.where in given:
        return InputError(f"{given[exc.where]} ({exc.where})", exc.problem)
    return exc


SPEC_FLAGS = {"--data": ("data.events", "data.events_dir", "data.split"),
              "--images": ("data.images", "data.images_path"), "--val-dir": ("data.split", "data.val_dir")}


def split_spec(text: str, flag: str, example: str) -> tuple[str, str]:
    kind, sep, path = text.partition(":")
    if not sep or not kind or not path:
        raise InputError(f"{flag} {text}", f"must look like KIND:PATH, e.g. {example}")
    return kind, path


def init_overrides(path: str) -> list[str]:
    """The --init model's architecture and slicing as config values: fine-tuning without a
    config file then needs no flag to repeat what the model file already says."""
    from r2etl_core.io.modelfile import read_meta

    meta = read_meta(path)
    c = meta.config
    out = [f"model.width={c.width}", f"data.input_size={c.input_size}", f"data.time_steps={c.time_steps}"]
    if meta.slicing.mode == "time":
        out += ['data.frame_mode="time"', f"data.slice_us={meta.slicing.slice_us}"]
    return out


def data_overrides(args: argparse.Namespace, base) -> list[str]:
    """What --data, --images, --val-dir and --init fill in (before --set and the shortcuts,
    which win). ``base``: the config without any flag."""
    from r2etl_core.train.config import RECORDING_SPLITS

    out = []
    if args.data is not None:
        kind, folder = split_spec(args.data, "--data", "aedat4:my-recordings")
        out += [f"data.events={json.dumps(kind)}", f"data.events_dir={json.dumps(folder)}"]
        if kind == "aedat4" and args.config is None:  # a lab's own clips: sized from the data
            out += ['data.split="auto"', "data.window_stride_slices=0", "optim.batch_size=0", "optim.steps=0",
                    "optim.epochs=0"]
            if args.images is None and args.mode is None:  # no images of the classes: the event side alone
                out.append('loss.mode="events-only"')
                print("r2etl train: no --images: training on the events alone (--mode events-only)", file=sys.stderr)
        elif kind == "aedat4" and base.data.split not in RECORDING_SPLITS:
            out.append('data.split="by-recording"')
        if args.config is None:
            out.append('run.out_dir="runs/train"')  # never the shipped recipe's folder
    if args.images is not None:
        kind, path = split_spec(args.images, "--images", "imagefolder:my-pictures")
        out += [f"data.images={json.dumps(kind)}", f"data.images_path={json.dumps(path)}"]
        if kind == "aedat4-frames" and args.data is not None and Path(path).resolve() == Path(folder).resolve():
            out.append('data.pairing="instance"')  # the same recordings: pair each window with its moment
    if args.val_dir is not None:
        out += ['data.split="folder"', f"data.val_dir={json.dumps(args.val_dir)}"]
    if args.init is not None and args.config is None:
        out += init_overrides(args.init)
    return out


def run_train(args: argparse.Namespace) -> int:
    from r2etl_core.train.config_file import load_config

    try:
        base = load_config(args.config or DEFAULT_CONFIG)
        cfg = load_config(args.config or DEFAULT_CONFIG, data_overrides(args, base) + overrides_from_args(args))
    except InputError as exc:
        raise named_by_flag(exc, args) from None
    if args.data is not None and args.images is None and args.config is None and cfg.loss.mode != "events-only":
        raise InputError("--images", f"mode {cfg.loss.mode} trains on images of the same classes too: add "
                                     "--images imagefolder:DIR (one sub-folder per class), or use --mode events-only")
    from r2etl_core.train.config import check_run_paths

    check_run_paths(cfg)  # before torch loads: a file in the way of --out fails at once
    from r2etl_core.train.run import train

    command = "r2etl " + " ".join(sys.argv[1:]) if sys.argv[1:] else "r2etl train"
    trainer, best = train(cfg, command)
    if trainer.rank == 0:
        s = trainer.state
        print(f"best validation accuracy {s.best_accuracy:.4f} at step {s.best_step} of {s.step}; "
              f"model: {best}")
        calibrate_unknown(cfg, best, args.negatives)
    return 0


def calibrate_unknown(cfg, best: Path, negatives: str | None) -> None:
    """Give the run's model files their "unknown" answer (r2etl calibrate), when the data allows."""
    from r2etl_core.cli.calibrate import describe, negatives_dir
    from r2etl_core.train.calibrate import calibrate

    if cfg.data.events not in ("nmnist", "aedat4"):
        print(f"'unknown' not calibrated: needs nmnist or aedat4 data, not {cfg.data.events}")
        return
    for path in (best, best.with_name("last.safetensors")):
        if path.exists():
            try:
                print(describe(*calibrate(path, None, negatives_dir(negatives))))
            except InputError as exc:  # the model is saved and usable; it only cannot say "unknown"
                print(f"'unknown' not calibrated for {path}: {exc.problem}")


def check_eval_args(args: argparse.Namespace) -> tuple[str, Path]:
    """(kind, folder) of ``--data``, after checking every flag that needs no model or data, so
    a typo fails in a blink (before torch loads), not after minutes of framing."""
    from r2etl_core.io.files import check_output_dir, check_output_path
    from r2etl_core.parse import check_device, check_whole

    kind, sep, folder = args.data.partition(":")
    if not sep or not folder:
        raise InputError(args.data, "--data must look like KIND:DIR, e.g. nmnist:../shared/data/nmnist/Train")
    check_whole("--batch-size", args.batch_size, 1, EVAL_BATCH_MAX)
    if args.cache_dir:
        check_output_dir(args.cache_dir, "frame cache (--cache-dir)")
    if args.confusion_png:
        check_output_path(args.confusion_png, "confusion matrix PNG (--confusion-png)")
    args.device = check_device(args.device)
    return kind, Path(folder)


def run_eval(args: argparse.Namespace) -> int:
    kind, folder = check_eval_args(args)
    if kind == "aedat4":
        from r2etl_core.train.datasets.recordings import scan_recordings

        found = scan_recordings(folder)  # a wrong folder fails before the model loads
    else:
        from r2etl_core.train.datasets.events import scan_event_folders

        found = scan_event_folders(kind, folder)
    from r2etl_core.io.modelfile import DEFAULT_MODEL_PATH, load_model
    from r2etl_core.parse import cuda_available
    from r2etl_core.train.evaluate import eval_event_set, evaluate

    device = args.device or ("cuda" if cuda_available() else "cpu")
    model_path = Path(args.model) if args.model else DEFAULT_MODEL_PATH
    model, meta = load_model(model_path, device)
    if kind == "aedat4":
        from r2etl_core.train.datasets.recording_sets import eval_windows

        events = eval_windows(found, meta, model_path, args.split, args.cache_dir)
    else:
        events = eval_event_set(kind, folder, meta, args.split, args.cache_dir, found)
    result = evaluate(model, events.frames, events.labels, meta.class_names, args.batch_size, device)
    print(f"model {model_path}\ndata  {kind}:{folder} ({args.split}, n={result.n})")
    print(f"accuracy {result.accuracy:.4f}")
    for name, acc in zip(meta.class_names, result.per_class):
        print(f"  class {name:>12}: {'-' if acc != acc else f'{acc:.4f}'}")
    print("confusion (rows = true, columns = predicted):")
    for row in result.confusion:
        print("  " + " ".join(f"{v:4d}" for v in row))
    if args.confusion_png:
        from r2etl_core.train.callbacks import save_confusion_png

        save_confusion_png(result, Path(args.confusion_png))
    if args.json:
        print(json.dumps({**result.to_json(), "model": str(model_path), "data": args.data,
                          "split": args.split}))
    return 0
