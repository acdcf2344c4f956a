"""Write labelled continuous test streams from held-out N-MNIST samples, to judge streaming readouts.

    python scripts/make_continuous_streams.py [--shared ../shared/data] [--out runs/streams] [--only NAME]

Why: a real event camera never goes silent (background activity fires on every pixel every few
ms) and digits do not come and go on the 30 ms slice grid. These streams are built like that:
digits back to back, each held 0.3-1.5 s by repeating its ~0.3 s N-MNIST recording, Poisson
background noise on the whole 34x34 sensor throughout, sometimes a noise-only stretch labelled
"idle", and every segment boundary off the slice grid. See r2etl_core/train/datasets/continuous.py.

Every stream is written as three files in --out:
  <name>.aedat4        the events (AEDAT 4, 34x34, camera "ATIS (N-MNIST)"), playable in r2etl-viewer
  <name>.labels.csv    ground truth: start_us,end_us,label (absolute times; "idle" = noise only)
  <name>.samples.txt   the N-MNIST samples shown, in stream order

Streams (about 20-40 s each, except the 10 s idle ones):
  held-noise0hz, held-noise1hz, held-noise5hz   digits held 0.6-1.2 s; the same digits at the same
                                               times in all three, only the noise rate differs
  single-noise1hz                              one recording per digit (cut at 0.28-0.30 s)
  idle-noise1hz, idle-noise2hz, idle-noise5hz  noise only, ~10 s, all labelled idle
  mixed                                        holds 0.3-1.5 s, 1 Hz noise, idle stretches between
                                               about a third of the digits

Only samples of the fixed validation split are used (per class, every 5th file of
nmnist/Train sorted by name), and the shipped model's hold-out list is checked: the script
stops if any chosen sample was trained on. N-MNIST is CC BY-SA 4.0 (Orchard et al. 2015), and
so are streams made from it: see recordings/README.md for the attribution to keep with them.

Then, e.g.:  r2etl classify runs/streams/held-noise1hz.aedat4 --json
(`r2etl classify` refuses, for now, streams labelled "idle" (mixed, idle-*): the model has no
such class. Read those with r2etl_core.io.labels and score them your own way.)
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

if not __package__:  # run as a file, not with -m: import this checkout's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from r2etl_core.errors import R2ETLError
from r2etl_core.io.dv import AedatWriter
from r2etl_core.io.labels import IDLE_LABEL, LabelSegment, write_labels
from r2etl_core.train.datasets.continuous import (
    StreamRecipe,
    build_idle_stream,
    build_stream,
    pick_per_class,
    validation_ids,
    validation_samples,
)
from r2etl_core.types import EventBatch

REPO = Path(__file__).resolve().parents[1]
CAMERA_NAME = "ATIS (N-MNIST)"
PACKET_US = 30_000  # events go in 30 ms packets: smaller files than a camera's ~1-10 ms ones; readers don't mind


@dataclass(frozen=True)
class StreamSpec:
    """One stream: ``per_class`` digits of each class (None: an idle stream of ``idle_s``)."""

    recipe: StreamRecipe
    per_class: int | None = 3
    pick_seed: int = 0
    idle_s: float = 10.0


def _held(noise_hz: float) -> StreamSpec:
    return StreamSpec(StreamRecipe(hold_us=(600_000, 1_200_000), noise_hz_per_pixel=noise_hz, seed=1), 3, 1)


STREAMS: dict[str, StreamSpec] = {
    "held-noise0hz": _held(0.0),
    "held-noise1hz": _held(1.0),
    "held-noise5hz": _held(5.0),
    "single-noise1hz": StreamSpec(StreamRecipe(hold_us=(280_000, 300_000), noise_hz_per_pixel=1.0, seed=2), 8, 2),
    "idle-noise1hz": StreamSpec(StreamRecipe(noise_hz_per_pixel=1.0, idle_us=(500_000, 2_000_000), seed=3), None),
    "idle-noise2hz": StreamSpec(StreamRecipe(noise_hz_per_pixel=2.0, idle_us=(500_000, 2_000_000), seed=3), None),
    "idle-noise5hz": StreamSpec(StreamRecipe(noise_hz_per_pixel=5.0, idle_us=(500_000, 2_000_000), seed=3), None),
    "mixed": StreamSpec(StreamRecipe(hold_us=(300_000, 1_500_000), noise_hz_per_pixel=1.0, idle_probability=0.35,
                                     idle_us=(300_000, 1_500_000), seed=4), 3, 4),
}


def write_stream(out: Path, events: EventBatch, labels: list[LabelSegment], samples: list[str],
                 note: str) -> int:
    """``out`` (.aedat4) plus its ``.labels.csv`` and ``.samples.txt``; returns events written."""
    stem = out.name[: -len(".aedat4")]
    edges = np.arange((events.t_first_us // PACKET_US + 1) * PACKET_US, events.t_last_us + PACKET_US, PACKET_US)
    cuts = np.searchsorted(events.t, edges)
    # flush_s=0: one packet per write (30 ms), as the comment above says; the writer would otherwise
    # pack a whole offline stream into a few MB-sized packets (a damaged byte would lose seconds)
    with AedatWriter(out, events.width, events.height, camera_name=CAMERA_NAME, flush_s=0) as writer:
        for a, b in zip(np.r_[0, cuts[:-1]], cuts):
            writer.write(events.select(slice(int(a), int(b))))
    if writer.events_written != len(events):
        raise RuntimeError(f"{out}: wrote {writer.events_written} of {len(events)} events")
    write_labels(out.with_name(stem + ".labels.csv"), labels)
    out.with_name(stem + ".samples.txt").write_text(
        f"# {note}\n# N-MNIST samples (nmnist/Train/<class>/<id>.bin) in stream order; their times are the "
        f"non-idle rows of {stem}.labels.csv\n" + "".join(f"{rel}\n" for rel in samples))
    return writer.events_written


def make(name: str, spec: StreamSpec, nmnist_root: Path, out_dir: Path) -> str:
    """Build and write one stream; returns a one-line summary."""
    if spec.per_class is None:
        events, labels = build_idle_stream(int(spec.idle_s * 1e6), spec.recipe)
        chosen: list[str] = []
    else:
        chosen = pick_per_class(validation_ids(nmnist_root), spec.per_class, spec.pick_seed)
        events, labels = build_stream(validation_samples(nmnist_root, chosen), spec.recipe)
    out = out_dir / f"{name}.aedat4"
    count = write_stream(out, events, labels, chosen, f"{name}: {spec.recipe}")
    span_s = (labels[-1].end_us - labels[0].start_us) / 1e6
    idle = sum(seg.label == IDLE_LABEL for seg in labels)
    return (f"{out}: {count:,} events, {span_s:.1f} s, {len(labels) - idle} digits + {idle} idle, "
            f"noise {spec.recipe.noise_hz_per_pixel:g} Hz/pixel, {out.stat().st_size / 1e6:.2f} MB")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"),
                    help="the shared data folder holding nmnist/Train (default: ../shared/data beside the repo)")
    ap.add_argument("--out", default=str(REPO / "runs" / "streams"),
                    help="folder to write the streams to, created if missing (default: runs/streams)")
    ap.add_argument("--only", action="append", choices=sorted(STREAMS), metavar="NAME",
                    help="write only this stream (repeatable); default: all of " + ", ".join(STREAMS))
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    nmnist_root = Path(args.shared) / "nmnist" / "Train"
    if not nmnist_root.is_dir():
        print(f"{nmnist_root}: not found (point --shared at the folder holding nmnist/Train)", file=sys.stderr)
        return 2
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        for name in args.only or list(STREAMS):
            print(make(name, STREAMS[name], nmnist_root, out_dir), flush=True)
    except R2ETLError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
