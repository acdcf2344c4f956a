"""Build the demo recordings in recordings/ from held-out N-MNIST samples.

    python scripts/make_demo_recording.py [--kind live|gapped] [--shared ../shared/data] [--out FILE]

--kind live (default) writes recordings/nmnist-demo.aedat4, the viewer's default demo, built to
look like a live camera: digits back to back (each held 0.8-1.0 s by repeating its ~0.3 s
recording, no gap), background-activity noise of 1 event/s on every pixel throughout, and every
segment boundary at a random offset from the 30 ms slice grid (see
r2etl_core/train/datasets/continuous.py). Two samples per digit, and after the tenth digit a
stretch of something that is no digit at all: the MIT-licensed DAVIS346 recording of cars on a
road (../shared/data/recordings/davis346-traffic-frames.aedat4, 2.36 s), its centre 260x260
pixels binned down to the demo's 34x34 sensor (every event kept, the noise going on over it),
labelled "unknown" (the right answer there). ~21 s, ~3 MB (it ships with the project).

--kind gapped writes recordings/nmnist-demo-gapped.aedat4, the earlier demo: three samples per
digit placed on a 360 ms period (up to 320 ms of events, then 40 ms of silence), no noise. The
stream starts at 1,000,000 us, which is NOT a multiple of 30 ms: every digit starts 10 ms after
a slice boundary (1,000,000 % 30,000 = 10,000; the 360 ms period keeps that phase).

Either way the samples are real ATIS recordings from ../shared/data/nmnist that belong to the
fixed validation split (r2etl_core.train.datasets.splits), i.e. the shipped model never trained
on them; if the shipped model exists, its metadata's hold-out list is checked as well. Besides
the .aedat4 (written with the project's own dv-processing writer), each kind writes its
<stem>.labels.csv (ground truth) and <stem>.samples.txt (samples in stream order).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np

if not __package__:  # run as a file, not with -m: import this checkout's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from r2etl_core.io.dv import AedatWriter, read_all_events
from r2etl_core.io.labels import UNKNOWN_LABEL, LabelSegment, write_labels
from r2etl_core.io.nmnist import read_bin
from r2etl_core.train.datasets.continuous import (
    StreamRecipe,
    background_noise,
    build_stream,
    check_not_trained_on,
    pick_per_class,
    validation_ids,
    validation_samples,
)
from r2etl_core.types import EventBatch
from scripts.make_continuous_streams import CAMERA_NAME, write_stream

REPO = Path(__file__).resolve().parents[1]
OUT = {"live": REPO / "recordings" / "nmnist-demo.aedat4",
       "gapped": REPO / "recordings" / "nmnist-demo-gapped.aedat4"}

# live: 20 digits, ~18 s, ~2.3 MB (the file ships with the project: keep it small). Seed 3:
# no two neighbouring digits of the same class, so every boundary is a visible change.
LIVE_PER_CLASS = 2
LIVE_RECIPE = StreamRecipe(hold_us=(800_000, 1_000_000), noise_hz_per_pixel=1.0, seed=3)
TRAFFIC = "davis346-traffic-frames.aedat4"  # MIT, (c) 2020 International Centre for Neuromorphic Systems
UNKNOWN_AFTER = 10  # the non-digit stretch follows the tenth digit

# gapped: the earlier demo, unchanged
SLOT_US = 360_000  # a multiple of 30 ms: every digit has the same phase on the slice grid
SAMPLE_US = 320_000
T0_US = 1_000_000  # the stream starts 1 s in; 10 ms past a slice boundary (not on it)
GAPPED_PER_CLASS = 3
GAPPED_SEED = 7


def pick_samples(split_val: tuple[str, ...], per_class: int, seed: int) -> list[str]:
    """The gapped demo's choice: the first ``per_class`` of each class by name, shuffled."""
    by_class: dict[str, list[str]] = {}
    for rel in sorted(split_val):
        by_class.setdefault(rel.split("/")[0], []).append(rel)
    chosen = [rel for cls in sorted(by_class) for rel in by_class[cls][:per_class]]
    random.Random(seed).shuffle(chosen)
    return chosen


def other_thing(shared: Path) -> EventBatch:
    """The traffic recording's centre square on the 34x34 sensor, times from 0."""
    ev = read_all_events(shared / "recordings" / TRAFFIC)
    side = min(ev.width, ev.height)
    x0, y0 = (ev.width - side) // 2, (ev.height - side) // 2
    inside = (ev.x >= x0) & (ev.x < x0 + side) & (ev.y >= y0) & (ev.y < y0 + side)
    ev = ev.select(inside)
    x = ((ev.x.astype(np.int32) - x0) * 34 // side).astype(np.int16)
    y = ((ev.y.astype(np.int32) - y0) * 34 // side).astype(np.int16)
    return EventBatch(ev.t - ev.t_first_us, x, y, ev.p, 34, 34)


def insert_stretch(events: EventBatch, labels: list[LabelSegment], after: int, stretch: EventBatch,
                   rng: np.random.Generator) -> tuple[EventBatch, list[LabelSegment]]:
    """``stretch`` (times from 0) played after segment ``after``, later segments moved back by its
    length, background noise over it as everywhere else."""
    start = labels[after].end_us
    grid = LIVE_RECIPE.slice_grid_us  # a whole number of slices: later boundaries keep their phase
    length = -(-(stretch.t_last_us + 1) // grid) * grid
    late = events.t >= start
    shifted = EventBatch(np.where(late, events.t + length, events.t), events.x, events.y, events.p, 34, 34)
    noise = background_noise(start, start + length, LIVE_RECIPE.noise_hz_per_pixel, 34, 34, rng)
    moved = EventBatch(stretch.t + start, stretch.x, stretch.y, stretch.p, 34, 34)
    allev = EventBatch.concat([shifted, moved, noise], 34, 34)
    allev = allev.select(np.argsort(allev.t, kind="stable"))
    out = labels[: after + 1] + [LabelSegment(start, start + length, UNKNOWN_LABEL)]
    out += [LabelSegment(s.start_us + length, s.end_us + length, s.label) for s in labels[after + 1:]]
    return allev, out


def make_live(root: Path, out: Path) -> str:
    chosen = pick_per_class(validation_ids(root), LIVE_PER_CLASS, LIVE_RECIPE.seed)
    events, labels = build_stream(validation_samples(root, chosen), LIVE_RECIPE)
    events, labels = insert_stretch(events, labels, UNKNOWN_AFTER - 1, other_thing(root.parents[1]),
                                    np.random.default_rng(LIVE_RECIPE.seed))
    count = write_stream(out, events, labels, chosen, f"live-like demo: {LIVE_RECIPE}; after digit "
                                                      f"{UNKNOWN_AFTER}: {TRAFFIC} (centre, 34x34), 'unknown'")
    span_s = (labels[-1].end_us - labels[0].start_us) / 1e6
    return (f"{count:,} events, {span_s:.2f} s, {len(labels) - 1} digits + 1 unknown stretch, "
            f"noise {LIVE_RECIPE.noise_hz_per_pixel:g} Hz/pixel")


def make_gapped(root: Path, out: Path) -> str:
    chosen = pick_samples(validation_ids(root), GAPPED_PER_CLASS, GAPPED_SEED)
    check_not_trained_on(chosen, root)
    segments = []
    with AedatWriter(out, 34, 34, camera_name=CAMERA_NAME) as writer:
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
    return f"{writer.events_written:,} events, {len(chosen)} digits, {len(chosen) * SLOT_US / 1e6:.2f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kind", choices=sorted(OUT), default="live",
                    help="live: the default demo, continuous with noise; gapped: the earlier demo")
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"),
                    help="the shared data folder holding nmnist/Train (default: ../shared/data beside the repo)")
    ap.add_argument("--out", help="the .aedat4 to write (default: recordings/nmnist-demo[-gapped].aedat4)")
    args = ap.parse_args()
    root = Path(args.shared) / "nmnist" / "Train"
    out = Path(args.out) if args.out else OUT[args.kind]
    summary = (make_live if args.kind == "live" else make_gapped)(root, out)
    print(f"wrote {out} ({summary})")


if __name__ == "__main__":
    main()
