"""Which score tells "none of my classes" from a digit, on continuous streams? Research script.

    python scripts/unknown_experiment.py MODEL [MODEL ...] [--json runs/unknown/exp.json]

For each model: every slice of
- calibration streams built from N-MNIST TRAINING samples (digits held 0.3-1.2 s under 0, 1 and
  5 Hz/pixel noise): the class statistics and the threshold come from these only;
- the continuous test streams (runs/streams, VALIDATION samples; `make_continuous_streams.py`);
- every real non-digit recording in ../shared/data/recordings that reads as .aedat4,
is run through the network as the engine runs it (30 ms slices, centred square ROI, state
carried), and the EMA-smoothed (75 ms, the default readout) candidate scores are computed:
max softmax, max logit, energy, and Mahalanobis distances (shared covariance, class means) on the
bottleneck's input current, on its spikes and on the logits. Per candidate: AUROC digit slices
vs non-digit active slices, and at the threshold giving 2% "unknown" on the calibration digits,
the share "unknown" on test digits and per non-digit file.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch

if not __package__:  # run as a file, not with -m: import this checkout's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from r2etl_core.io.dv import read_all_events
from r2etl_core.io.labels import IDLE_LABEL, read_labels, segment_index
from r2etl_core.io.modelfile import load_model
from r2etl_core.io.nmnist import read_bin
from r2etl_core.nn.unknown import fit_detector
from r2etl_core.stream.slicing import StreamSlicer, bin_events_numpy, roi_activity
from r2etl_core.train.datasets.continuous import StreamRecipe, build_stream, class_of, pick_per_class
from r2etl_core.train.datasets.splits import shared_nmnist_split
from r2etl_core.types import FrameSpec, SliceByTime
from scripts.results_json import save_json
from scripts.compare_unknown import auroc  # P(a non-digit slice scores above a digit slice)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
TAU_MS, SLICE_US = 75.0, 30_000


def slices_of(events, width, height):
    spec = FrameSpec.centred(width, height, 34)
    slicer = StreamSlicer(SliceByTime(SLICE_US))
    sl = slicer.push(events) + slicer.flush()
    frames = np.stack([bin_events_numpy(s.events, spec) for s in sl])
    act = np.array([roi_activity(s.events, spec) for s in sl])
    mids = np.array([(s.t_start_us + s.t_end_us) // 2 for s in sl])
    counts = np.array([len(s.events) for s in sl])
    return frames, act, mids, counts


@torch.no_grad()
def run_features(model, frames: np.ndarray) -> dict[str, np.ndarray]:
    """Per slice: fc1 current, bottleneck spikes, logits; state carried across all slices."""
    got = {}
    h1 = model.fc1.register_forward_hook(lambda m, i, o: got.__setitem__("cur", o.detach()))
    h2 = model.bottleneck.register_forward_hook(lambda m, i, o: got.__setitem__("spk", o.detach()))
    model.reset_state()
    model.set_step_mode("m")
    out = {"cur": [], "spk": [], "logit": []}
    x = torch.from_numpy(frames).float().unsqueeze(1)
    for a in range(0, len(x), 256):
        logits = model(x[a:a + 256])
        out["logit"].append(logits[:, 0])
        out["cur"].append(got["cur"][:, 0])
        out["spk"].append(got["spk"][:, 0])
    h1.remove()
    h2.remove()
    return {k: torch.cat(v).numpy().astype(np.float64) for k, v in out.items()}


def ema(x: np.ndarray) -> np.ndarray:
    a = 1.0 - math.exp(-SLICE_US / 1e3 / TAU_MS)
    y = np.empty_like(x)
    y[0] = x[0]
    for i in range(1, len(x)):
        y[i] = y[i - 1] + a * (x[i] - y[i - 1])
    return y


def stream_record(model, events, labels=None):
    frames, act, mids, counts = slices_of(events, events.width, events.height)
    f = {k: ema(v) for k, v in run_features(model, frames).items()}
    a = 1.0 - math.exp(-SLICE_US / 1e3 / 15.0)
    sm = np.empty(len(act))
    for i in range(len(act)):
        sm[i] = act[i, 0] if i == 0 else sm[i - 1] + a * (act[i, 0] - sm[i - 1])
    active = sm >= np.maximum(3.0, 4.0 * act[:, 1])
    truth = None
    if labels is not None:
        truth = []
        for m in mids:
            i = segment_index(labels, int(m))
            truth.append(None if i is None else str(labels[i].label))
    return dict(f, active=active, counts=counts, truth=truth)


def calibration_streams(root: Path, meta) -> list[tuple]:
    holdout = set(meta.training.get("holdout", []))
    train_ids = [r for r in shared_nmnist_split(root).train if r not in holdout]
    out = []
    for seed, hz in ((11, 0.0), (12, 1.0), (13, 5.0)):
        ids = pick_per_class(train_ids, 4, seed)
        samples = [(read_bin(root / r), class_of(r)) for r in ids]
        ev, lab = build_stream(samples, StreamRecipe(hold_us=(300_000, 1_200_000), noise_hz_per_pixel=hz, seed=seed))
        out.append((f"calib-{hz:g}hz", ev, lab))
    return out


def scores(rec: dict, gauss: dict) -> dict[str, np.ndarray]:
    lg = rec["logit"]
    p = np.exp(lg - lg.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    out = {"maxsoftmax": -p.max(1), "maxlogit": -lg.max(1),
           "energy": -np.log(np.exp(lg - lg.max(1, keepdims=True)).sum(1)) - lg.max(1)}
    for k, g in gauss.items():
        out[f"maha-{k}"] = g.scores(rec[k])
    return out


def digit_mask(rec):
    return np.array([t is not None and t != IDLE_LABEL for t in rec["truth"]]) & rec["active"] & (rec["counts"] > 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--calib-rate", type=float, default=0.02)
    args = ap.parse_args()
    root = SHARED / "nmnist" / "Train"
    tests = sorted((REPO / "runs" / "streams").glob("*.aedat4"))
    nondigit = sorted((SHARED / "recordings").glob("*.aedat4"))
    results = {}
    for mp in args.models:
        model, meta = load_model(mp, "cpu")
        names = list(meta.class_names)
        calib = []
        for name, ev, lab in calibration_streams(root, meta):
            calib.append(stream_record(model, ev, lab))
        xs = {k: [] for k in ("cur", "spk", "logit")}
        ys = []
        for rec in calib:
            m = digit_mask(rec)
            for k in xs:
                xs[k].append(rec[k][m])
            ys += [names.index(t) for t, keep in zip(rec["truth"], m) if keep]
        y = np.array(ys)
        # the shipped fit (means, shared covariance, same shrinkage); its threshold is not used here
        gauss = {k: fit_detector(np.concatenate(v), y, len(names), 0.99) for k, v in xs.items()}
        cal = {k: np.concatenate([scores(r, gauss)[k][digit_mask(r)] for r in calib]) for k in scores(calib[0], gauss)}
        thr = {k: float(np.quantile(v, 1 - args.calib_rate)) for k, v in cal.items()}
        row = {"thresholds": thr, "tests": {}, "nondigit": {}}
        dig = {k: [] for k in thr}
        for path in tests:
            lab = read_labels(path.with_name(path.name[:-7] + ".labels.csv"))
            rec = stream_record(model, read_all_events(path), lab)
            m = digit_mask(rec)
            sc = scores(rec, gauss)
            row["tests"][path.stem] = {k: float((sc[k][m] > thr[k]).mean()) if m.any() else None for k in thr}
            if m.any():
                for k in thr:
                    dig[k].append(sc[k][m])
        neg = {k: [] for k in thr}
        for path in nondigit:
            ev = read_all_events(path)
            rec = stream_record(model, ev)
            m = rec["active"] & (rec["counts"] > 0)
            sc = scores(rec, gauss)
            row["nondigit"][path.stem] = {"active": int(m.sum()), "slices": len(m),
                                          **{k: float((sc[k][m] > thr[k]).mean()) if m.any() else None for k in thr}}
            for k in thr:
                neg[k].append(sc[k][m])
        row["auroc"] = {k: auroc(np.concatenate(dig[k]), np.concatenate(neg[k])) for k in thr}
        results[str(mp)] = row
        print(f"== {mp}")
        print("score | AUROC | unknown on test digits (per stream) | unknown on non-digit files")
        for k in thr:
            t = " ".join(f"{v[k]:.2f}" for v in row["tests"].values() if v[k] is not None)
            n = " ".join(f"{f}:{v[k]:.2f}" for f, v in row["nondigit"].items() if v[k] is not None)
            print(f"{k:12s} | {row['auroc'][k]:.3f} | {t} | {n}")
        print("active slices per non-digit file:", {f: (v["active"], v["slices"]) for f, v in row["nondigit"].items()})
    save_json(args.json, results)


if __name__ == "__main__":
    main()
