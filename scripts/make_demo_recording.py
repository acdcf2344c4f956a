"""Build recordings/nmnist-demo.aedat4 (+ .labels.csv) from held-out N-MNIST samples.

    python scripts/make_demo_recording.py [--shared ../shared/data] [--per-class 3]

The samples are real ATIS recordings from ../shared/data/nmnist that belong to the fixed
validation split (r2etl_core.train.datasets.splits), i.e. the shipped model never trained on them;
if the shipped model exists, its metadata's hold-out list is checked as well. They are placed
one after another on a 360 ms grid (up to 320 ms of events, then silence), in a shuffled but
fixed order, and written with the project's own dv-processing writer.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from r2etl_core.train.datasets.splits import shared_nmnist_split
from r2etl_core.io.dv import AedatWriter
from r2etl_core.io.nmnist import read_bin
from r2etl_core.io.labels import LabelSegment, write_labels
from r2etl_core.io.modelfile import DEFAULT_MODEL_PATH, read_meta
from r2etl_core.types import EventBatch

REPO = Path(__file__).resolve().parents[1]
SLOT_US = 360_000  # a multiple of the 30 ms slice: each digit starts on a slice boundary
SAMPLE_US = 320_000
T0_US = 1_000_000  # the stream starts 1 s in, like a camera that was already running


def pick_samples(split_val: tuple[str, ...], per_class: int, seed: int) -> list[str]:
    by_class: dict[str, list[str]] = {}
    for rel in sorted(split_val):
        by_class.setdefault(rel.split("/")[0], []).append(rel)
    chosen = [rel for cls in sorted(by_class) for rel in by_class[cls][:per_class]]
    random.Random(seed).shuffle(chosen)
    return chosen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--per-class", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default=str(REPO / "recordings" / "nmnist-demo.aedat4"))
    args = ap.parse_args()
    root = Path(args.shared) / "nmnist" / "Train"
    split = shared_nmnist_split(root)
    chosen = pick_samples(split.val, args.per_class, args.seed)
    if DEFAULT_MODEL_PATH.exists():
        holdout = set(read_meta(DEFAULT_MODEL_PATH).training.get("holdout", []))
        trained_on = [rel for rel in chosen if rel not in holdout]
        if trained_on:
            raise SystemExit(f"the shipped model trained on {trained_on[:3]}: not a fair demo")
    out = Path(args.out)
    segments = []
    with AedatWriter(out, 34, 34, camera_name="ATIS (N-MNIST)") as writer:
        for k, rel in enumerate(chosen):
            ev = read_bin(root / rel)
            ev = ev.select(ev.t < SAMPLE_US)
            start = T0_US + k * SLOT_US
            writer.write(EventBatch(ev.t + start, ev.x, ev.y, ev.p, ev.width, ev.height))
            segments.append(LabelSegment(start, start + SAMPLE_US, rel.split("/")[0]))
    write_labels(out.with_name(out.stem + ".labels.csv"), segments)
    (out.with_name(out.stem + ".samples.txt")).write_text(
        "# N-MNIST samples (nmnist/Train/<class>/<id>.bin) in stream order; the k-th starts at "
        f"{T0_US} + k * {SLOT_US} us\n" + "\n".join(chosen) + "\n")
    print(f"wrote {out} ({len(chosen)} digits, {len(chosen) * SLOT_US / 1e6:.1f} s)")


if __name__ == "__main__":
    main()
