"""Which variant of the "unknown" score, chosen WITHOUT the real non-digit recordings? Research script.

    python scripts/unknown_variants.py MODEL [--json runs/unknown/variants.json] [--real]

Made for issue 17's second round. Every number used to CHOOSE comes from data made here or from
training/held-out digits:
- calibration streams exactly as `r2etl calibrate` builds them (train.calibrate.nmnist_streams):
  N-MNIST training samples for the statistics, held-out samples no test stream shows for the
  threshold (its 98th percentile: 2% of held-out digit slices "unknown");
- synthetic non-digit event streams simulated here (``synthetic_streams``): blobs, small shapes
  crossing the view, a large object sweeping it, drifting and saccading textures, scribbles moved in
  N-MNIST-like saccades, each through a simple log-intensity DVS model plus 1 Hz/pixel noise;
- the selection rule: the variant with the largest share of synthetic active slices "unknown" at
  the threshold giving 2% on held-out digits.
Only with ``--real`` are the continuous test streams (runs/streams) and the real non-digit files
in ../shared/data/recordings scored as well (evaluation, printed in a separate block).

Features are computed as scripts/unknown_experiment.py does (one multi-step forward per stream,
state carried, the readout's 75 ms EMA): the fc1 current (the shipped feature) and the last conv
block's spikes (576 values) for the fusion variant.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if not __package__:  # run as a file, not with -m: import this checkout's packages
    sys.path.insert(0, str(REPO))

from scripts.results_json import save_json  # noqa: E402
from scripts.compare_unknown import auroc  # noqa: E402
from scripts.synthetic_negatives import synthetic_streams  # noqa: E402
from scripts.unknown_experiment import SLICE_US, ema, slices_of  # noqa: E402

from r2etl_core.io.eventfiles import is_event_file, read_event_file  # noqa: E402
from r2etl_core.io.labels import IDLE_LABEL, read_labels, segment_index  # noqa: E402
from r2etl_core.io.modelfile import load_model  # noqa: E402
from r2etl_core.nn.unknown import SHRINKAGE, fit_detector  # noqa: E402
from r2etl_core.train.calibrate import nmnist_streams  # noqa: E402
from r2etl_core.types import EventBatch  # noqa: E402

SHARED = REPO.parent / "shared" / "data"


# ---------------------------------------------------------------- features
@torch.no_grad()
def features(model, events: EventBatch) -> dict[str, np.ndarray]:
    """Per slice, EMA-smoothed: fc1 current, last conv block spikes (flattened); active mask."""
    frames, act, mids, counts = slices_of(events, events.width, events.height)
    got = {}
    h1 = model.fc1.register_forward_hook(lambda m, i, o: got.__setitem__("cur", o.detach()))
    h2 = model.trunk.register_forward_hook(lambda m, i, o: got.__setitem__("conv", o.detach()))
    model.reset_state()
    model.set_step_mode("m")
    out = {"cur": [], "conv": []}
    x = torch.from_numpy(frames).float().unsqueeze(1)
    try:
        for a in range(0, len(x), 256):
            model(x[a:a + 256])
            out["cur"].append(got["cur"][:, 0])
            out["conv"].append(got["conv"][:, 0].reshape(len(x[a:a + 256]), -1))
    finally:
        h1.remove()
        h2.remove()
        model.set_step_mode("s")
    f = {k: ema(torch.cat(v).numpy().astype(np.float64)) for k, v in out.items()}
    a = 1.0 - math.exp(-SLICE_US / 1e3 / 15.0)
    sm = np.empty(len(act))
    for i in range(len(act)):
        sm[i] = act[i, 0] if i == 0 else sm[i - 1] + a * (act[i, 0] - sm[i - 1])
    f["active"] = (sm >= np.maximum(3.0, 4.0 * act[:, 1])) & (counts > 0)
    f["mids"] = mids
    return f


def labelled(model, stream, names) -> dict[str, np.ndarray]:
    """Features of the active slices inside class segments, with their class index."""
    f = features(model, stream.events)
    keep, lab = [], []
    for j, (m, on) in enumerate(zip(f["mids"], f["active"])):
        i = segment_index(stream.segments, int(m))
        if on and i is not None and str(stream.segments[i].label) in names:
            keep.append(j)
            lab.append(names.index(str(stream.segments[i].label)))
    keep = np.asarray(keep, int)
    return {"cur": f["cur"][keep], "conv": f["conv"][keep], "y": np.asarray(lab, int)}


def cat(parts: list[dict]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


# ---------------------------------------------------------------- variants
def gaussian(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    mu = x.mean(0)
    c = np.cov(x, rowvar=False, bias=True)
    c += SHRINKAGE * np.trace(c) / len(c) * np.eye(len(c))
    sign, logdet = np.linalg.slogdet(c)
    return mu, np.linalg.inv(c), logdet


def pool(conv: np.ndarray) -> np.ndarray:
    """The last conv block's spikes averaged over its 3x3 positions: one value per channel."""
    return conv.reshape(len(conv), -1, 9).mean(-1)


def maha(x, mu, prec):
    d = x - mu
    return ((d @ prec) * d).sum(1)


class Variants:
    """Every candidate score, fitted on the fit-stream digit slices (features by class)."""

    def __init__(self, fit: dict, classes: int, shrink: list[float] = ()):
        import r2etl_core.nn.unknown as unknown_module

        self.shared = {k: fit_detector(fit[k], fit["y"], classes, 0.98) for k in ("cur", "conv")}
        self.shrunk = {}
        for r in shrink:
            unknown_module.SHRINKAGE = r
            self.shrunk[r] = fit_detector(fit["conv"], fit["y"], classes, 0.98)
        unknown_module.SHRINKAGE = SHRINKAGE
        self.shared["pool"] = fit_detector(pool(fit["conv"]), fit["y"], classes, 0.98)
        # PCA of the conv features (the class-mean-centred ones): 64 leading directions
        centred = fit["conv"] - self.shared["conv"].means[fit["y"]]
        _, _, vt = np.linalg.svd(centred - centred.mean(0), full_matrices=False)
        self.pca = vt[:64].T
        self.shared["pca"] = fit_detector(fit["conv"] @ self.pca, fit["y"], classes, 0.98)
        self.per_class = [gaussian(fit["cur"][fit["y"] == c]) for c in range(classes)]
        self.background = {k: gaussian(fit[k]) for k in ("cur", "conv")}
        self.norm: dict[str, float] = {}

    def scores(self, f: dict) -> dict[str, np.ndarray]:
        cur, conv = f["cur"], f["conv"]
        s = {"shared-fc1 (shipped)": self.shared["cur"].scores(cur)}
        pc = np.stack([maha(cur, mu, p) for mu, p, _ in self.per_class], 1)
        s["classcov-fc1"] = pc.min(1)
        s["classcov+logdet-fc1"] = (pc + np.array([ld for _, _, ld in self.per_class])[None]).min(1)
        s["relative-fc1"] = s["shared-fc1 (shipped)"] - maha(cur, *self.background["cur"][:2])
        s["shared-conv"] = self.shared["conv"].scores(conv)
        s["relative-conv"] = s["shared-conv"] - maha(conv, *self.background["conv"][:2])
        for r, det in self.shrunk.items():
            s[f"shared-conv ridge {r:g}"] = det.scores(conv)
        s["shared-convpool64"] = self.shared["pool"].scores(pool(conv))
        s["shared-convpca64"] = self.shared["pca"].scores(conv @ self.pca)
        if self.norm:  # fusion: each score over its held-out 98th percentile, summed
            s["fused fc1+conv"] = (s["shared-fc1 (shipped)"] / self.norm["shared-fc1 (shipped)"]
                                   + s["shared-conv"] / self.norm["shared-conv"])
            s["fused fc1+convpool64"] = (s["shared-fc1 (shipped)"] / self.norm["shared-fc1 (shipped)"]
                                         + s["shared-convpool64"] / self.norm["shared-convpool64"])
        return s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("--per-kind", type=int, default=8)
    ap.add_argument("--real", action="store_true", help="also score the test streams and the real files")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--per-class", type=int, default=None,
                    help="training samples per class in each fit stream (calibrate.PER_CLASS: 6)")
    ap.add_argument("--shrink", type=float, nargs="*", default=[],
                    help="also the conv variant with these covariance ridges (unknown.SHRINKAGE: 1e-3)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.per_class:
        import r2etl_core.train.calibrate as calibrate_module

        calibrate_module.PER_CLASS = args.per_class
    model, meta = load_model(args.model, "cpu")
    model.eval()
    names = list(meta.class_names)
    fit_streams, held_streams = nmnist_streams(meta, args.model)
    fit = cat([labelled(model, s, names) for s in fit_streams])
    held_parts = [labelled(model, s, names) for s in held_streams]
    held = cat(held_parts)
    v = Variants(fit, len(names), args.shrink)
    held_sc = v.scores(held)
    v.norm = {k: float(np.quantile(x, 0.98)) for k, x in held_sc.items()}
    held_sc = v.scores(held)
    thr = {k: float(np.quantile(x, 0.98)) for k, x in held_sc.items()}
    fit_sc = v.scores(fit)
    per_held = [v.scores(h) for h in held_parts]
    synth = synthetic_streams(args.per_kind, 1)
    syn_sc: dict[str, dict[str, list]] = {}
    for kind, ev in synth:
        f = features(model, ev)
        m = f["active"]
        for k, x in v.scores(f).items():
            syn_sc.setdefault(k, {}).setdefault(kind, []).append(x[m])
    res = {"model": str(args.model), "fit_slices": len(fit["y"]), "held_slices": len(held["y"]), "variants": {}}
    print(f"== {args.model}: fit {len(fit['y'])} digit slices, threshold from {len(held['y'])} held-out digit slices")
    print("variant | AUROC held digits vs synthetic | synthetic 'unknown' at 2% held digits | per kind")
    for k in thr:
        allsyn = np.concatenate([x for xs in syn_sc[k].values() for x in xs])
        per = {kind: float((np.concatenate(xs) > thr[k]).mean()) for kind, xs in syn_sc[k].items()
               if len(np.concatenate(xs))}
        row = {"auroc_synth": auroc(held_sc[k], allsyn), "synth_unknown": float((allsyn > thr[k]).mean()),
               "per_kind": per, "threshold": thr[k], "synth_slices": int(len(allsyn)),
               "held_streams_unknown": [float((h[k] > thr[k]).mean()) for h in per_held],
               "fit_unknown": float((fit_sc[k] > thr[k]).mean())}
        res["variants"][k] = row
        print(f"{k:22s} | {row['auroc_synth']:.4f} | {row['synth_unknown']:.1%} | "
              + " ".join(f"{kk}:{vv:.0%}" for kk, vv in per.items())
              + " | held streams " + "/".join(f"{x:.1%}" for x in row["held_streams_unknown"])
              + f" | fit {row['fit_unknown']:.2%}")
    if args.real:
        real_block(model, v, thr, res)
    save_json(args.json, res)


def real_block(model, v: Variants, thr: dict, res: dict) -> None:
    """Evaluation only: digit slices of the continuous test streams and the real non-digit files."""
    dig: dict[str, list] = {k: [] for k in thr}
    per_stream: dict[str, dict] = {}
    for name in ("held-noise0hz", "held-noise1hz", "held-noise5hz", "single-noise1hz", "mixed"):
        path = REPO / "runs" / "streams" / f"{name}.aedat4"
        lab = read_labels(path.with_name(name + ".labels.csv"))
        f = features(model, read_event_file(path))
        m = f["active"] & np.array([(i := segment_index(lab, int(t))) is not None and lab[i].label != IDLE_LABEL
                                    for t in f["mids"]])
        sc = v.scores(f)
        per_stream[name] = {k: float((sc[k][m] > thr[k]).mean()) for k in thr}
        if name in ("held-noise1hz", "single-noise1hz", "mixed"):
            for k in thr:
                dig[k].append(sc[k][m])
    others = sorted(p for p in (SHARED / "recordings").iterdir() if is_event_file(p) and "header-only" not in p.name)
    oth: dict[str, list] = {k: [] for k in thr}
    per_file: dict[str, dict] = {}
    for p in others:
        f = features(model, read_event_file(p))
        m = f["active"]
        sc = v.scores(f)
        per_file[p.name] = {k: float((sc[k][m] > thr[k]).mean()) if m.any() else None for k in thr}
        per_file[p.name]["active"] = int(m.sum())
        for k in thr:
            oth[k].append(sc[k][m])
    print("\n-- evaluation (not used to choose): digit streams 'unknown' | real files 'unknown' (all, per file)"
          " | AUROC")
    res["real"] = {}
    for k in thr:
        o = np.concatenate(oth[k])
        row = {"digits": {s: r[k] for s, r in per_stream.items()}, "others_share": float((o > thr[k]).mean()),
               "per_file": {n: r[k] for n, r in per_file.items()},
               "auroc": auroc(np.concatenate(dig[k]), o)}
        res["real"][k] = row
        print(f"{k:22s} | " + " ".join(f"{x:.1%}" for x in row["digits"].values())
              + f" | {row['others_share']:.1%} | " + " ".join(f"{n[:10]}:{x:.0%}" for n, x in row["per_file"].items()
                                                           if x is not None) + f" | {row['auroc']:.4f}")
    print("active slices:", {n: r["active"] for n, r in per_file.items()})


if __name__ == "__main__":
    main()
