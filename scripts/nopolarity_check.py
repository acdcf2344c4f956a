"""Could the 2,344 polarity-less N-MNIST recordings (../shared/data/nmnist-nopolarity) be used as they
are? Research script (issue 17, item 5): measures, without training anything,

- what losing polarity costs a shipped model: `r2etl eval`-style accuracy on the 204 validation
  samples with their true polarity, with the polarity redrawn at random (what the nopolarity
  recordings carry), and with it merged (every event counted in both channels, or half of the
  events' count in each);
- the same model on the nopolarity recordings under the same two mergings (they are training
  recordings of other MNIST images: an accuracy near the merged-validation one means they look
  like digits to the network, i.e. usable training data for a merged-polarity model);
- and the share of their stream slices the model's "unknown" detector calls unknown (could they
  widen its calibration set?).

    python scripts/nopolarity_check.py MODEL [MODEL ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

if not __package__:  # run as a file, not with -m: import this checkout's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from r2etl_core.io.modelfile import load_model  # noqa: E402
from r2etl_core.io.nmnist import read_bin  # noqa: E402
from r2etl_core.train.datasets.frames import FrameParams, events_to_frames  # noqa: E402
from r2etl_core.train.evaluate import predict  # noqa: E402
from r2etl_core.types import EventBatch  # noqa: E402
from scripts.results_json import save_json  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def nopolarity(limit: int | None) -> tuple[list[EventBatch], np.ndarray]:
    with np.load(SHARED / "nmnist-nopolarity" / "train2344.npz") as d:  # each d[key] reads the array
        arrays = {k: d[k] for k in ("x", "y", "t", "offsets", "label")}
    off, out = arrays["offsets"], []
    n = len(arrays["label"]) if limit is None else min(limit, len(arrays["label"]))
    for k in range(n):
        a, b = off[k], off[k + 1]
        t = arrays["t"][a:b].astype(np.int64)
        o = np.argsort(t, kind="stable")
        out.append(EventBatch(t[o], arrays["x"][a:b][o].astype(np.int16), arrays["y"][a:b][o].astype(np.int16),
                              np.ones(b - a, np.int8), 34, 34))
    return out, arrays["label"][:n].astype(int)


def frames_of(samples: list[EventBatch], how: str, rng: np.random.Generator) -> np.ndarray:
    params = FrameParams()
    out = []
    for ev in samples:
        if how == "random":
            ev = EventBatch(ev.t, ev.x, ev.y, rng.integers(0, 2, len(ev)).astype(np.int8), ev.width, ev.height)
        f = events_to_frames(ev, params)
        if how in ("merged-both", "merged-half"):
            total = f.sum(1, keepdims=True)
            f = np.repeat(total if how == "merged-both" else total / 2, 2, axis=1)
        out.append(f)
    return np.stack(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--limit", type=int, default=None, help="first N nopolarity recordings only")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    nopol, nopol_y = nopolarity(args.limit)
    res = {}
    for mp in args.models:
        model, meta = load_model(mp, "cpu")
        names = list(meta.class_names)
        root = Path(str(meta.training["data"]["events_dir"]))
        if not root.is_absolute():
            root = (REPO / root).resolve()
        val = list(meta.training["holdout"])
        val_ev = [read_bin(root / rel) for rel in val]
        val_y = np.asarray([names.index(Path(rel).parts[0]) for rel in val])
        row = {}
        for how in ("true", "random", "merged-both", "merged-half"):
            rng = np.random.default_rng(0)
            if how == "true":
                f = np.stack([events_to_frames(ev, FrameParams()) for ev in val_ev])
            else:
                f = frames_of(val_ev, how, rng)
            row[f"val {how}"] = float((predict(model, f) == val_y).mean())
        for how in ("random", "merged-both", "merged-half"):
            f = frames_of(nopol, how, np.random.default_rng(0))
            y = np.asarray([names.index(str(c)) for c in nopol_y])
            row[f"nopolarity {how}"] = float((predict(model, f) == y).mean())
        res[str(mp)] = row
        print(f"== {mp}: " + ", ".join(f"{k} {v:.2%}" for k, v in row.items()), flush=True)
    save_json(args.json, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
