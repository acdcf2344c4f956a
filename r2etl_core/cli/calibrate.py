"""``r2etl calibrate``: fit a model's "unknown" detector (train/calibrate.py) and write it into the file."""

from __future__ import annotations

import argparse

from r2etl_core.limits import UNKNOWN_QUANTILE
from r2etl_core.parse import check_number

CALIBRATE_HELP = """\
Teach MODEL to say "unknown" when the square shows something that is none of its classes (a hand,
a face, the room) instead of naming the closest class. From the data MODEL was trained on (its
metadata names it; it must be on this machine), the network's features are collected slice by
slice as the viewer streams them: the class means and their spread come from the training data,
the threshold is the QUANTILE of the classes' own distances on held-out data (held-out samples or
recordings), so about 1 - QUANTILE of their slices are called "unknown". With --negatives, slices
of recordings that show none of the classes raise the threshold as far as they allow.
`r2etl train` does this by itself at the end of every run on N-MNIST or aedat4 data.

examples:
  r2etl calibrate runs/mine/best.safetensors                      in place (written atomically)
  r2etl calibrate runs/mine/best.safetensors --negatives other-clips --out runs/mine/calibrated.safetensors
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="calibrate a model's 'unknown' answer from its training data",
                       description=CALIBRATE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="model file (.safetensors) trained on N-MNIST or aedat4 recordings")
    p.add_argument("--out", help="write the calibrated model here (default: replace MODEL atomically)")
    p.add_argument("--negatives", metavar="DIR", help="folder of .aedat4 recordings of none of the classes")
    p.add_argument("--quantile", type=float, default=None,
                   help=f"share of the classes' held-out slices NOT called unknown (default {UNKNOWN_QUANTILE:g})")
    p.set_defaults(func=cmd_calibrate)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from r2etl_core.train.calibrate import QUANTILE, calibrate

    quantile = QUANTILE if args.quantile is None else check_number("--quantile", args.quantile, 0.5, 0.99999)
    path, detector = calibrate(args.model, args.out, negatives_dir(args.negatives), quantile)
    print(describe(path, detector))
    return 0


def negatives_dir(value: str | None) -> str | None:
    """``--negatives DIR`` or ``aedat4:DIR`` (as --data spells folders)."""
    if value is None:
        return None
    return value[len("aedat4:"):] if value.startswith("aedat4:") else value


def describe(path, detector) -> str:
    c = detector.calibration
    text = (f"{path}: 'unknown' above distance {detector.threshold:.1f} ({c.get('class_slices')} class slices "
            f"for the means, {c.get('threshold_slices')} held-out for the threshold: {c.get('own_unknown', 0):.1%} "
            "of them called unknown")
    if c.get("negative_slices"):
        text += f"; negatives: {c['negatives_unknown']:.1%} of {c['negative_slices']} slices called unknown"
    return text + ")"
