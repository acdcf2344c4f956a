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
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_unknown import auroc  # noqa: E402
from unknown_experiment import SLICE_US, ema, slices_of  # noqa: E402

from r2etl_core.io.eventfiles import is_event_file, read_event_file  # noqa: E402
from r2etl_core.io.labels import IDLE_LABEL, read_labels, segment_index  # noqa: E402
from r2etl_core.io.modelfile import load_model  # noqa: E402
from r2etl_core.nn.unknown import SHRINKAGE, fit_detector  # noqa: E402
from r2etl_core.train.calibrate import nmnist_streams  # noqa: E402
from r2etl_core.train.datasets.continuous import background_noise  # noqa: E402
from r2etl_core.types import EventBatch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SIZE = 34


# ---------------------------------------------------------------- synthetic non-digit events
def dvs(render, duration_ms: int, rng: np.random.Generator, contrast: float = 0.2,
        noise_hz: float = 1.0) -> EventBatch:
    """Events of an intensity video ``render(t_ms) -> [SIZE, SIZE]`` in (0, 1]: a pixel fires
    each time its log intensity moved ``contrast`` from its last event (per-pixel thresholds
    jittered 10%), timestamps spread uniformly within the millisecond."""
    thr = contrast * rng.uniform(0.9, 1.1, (SIZE, SIZE))
    ref = np.log(render(0) + 0.02)
    ts, xs, ys, ps = [], [], [], []
    for t in range(1, duration_ms):
        cur = np.log(render(t) + 0.02)
        diff = cur - ref
        n = np.floor(np.abs(diff) / thr).astype(int)
        yy, xx = np.nonzero(n)
        if len(yy):
            k = n[yy, xx]
            pol = (diff[yy, xx] > 0).astype(np.int8)
            rep = np.repeat(np.arange(len(yy)), k)
            ts.append(t * 1000 + rng.integers(0, 1000, len(rep)))
            xs.append(xx[rep])
            ys.append(yy[rep])
            ps.append(pol[rep])
            ref[yy, xx] += np.sign(diff[yy, xx]) * k * thr[yy, xx]
    t = np.concatenate(ts) if ts else np.zeros(0, np.int64)
    ev = EventBatch(t.astype(np.int64), np.concatenate(xs).astype(np.int16), np.concatenate(ys).astype(np.int16),
                    np.concatenate(ps).astype(np.int8), SIZE, SIZE) if ts else EventBatch.empty(SIZE, SIZE)
    noise = background_noise(0, duration_ms * 1000, noise_hz, SIZE, SIZE, rng)
    both = [ev, noise]
    order = np.argsort(np.concatenate([b.t for b in both]), kind="stable")
    cat = [np.concatenate([getattr(b, f) for b in both])[order] for f in "txyp"]
    return EventBatch(*cat, SIZE, SIZE)


GRID = np.mgrid[0:SIZE, 0:SIZE].astype(float)  # [2 (y, x), S, S]


def soft(d: np.ndarray) -> np.ndarray:
    """Inside (d < 0) -> 1, outside -> 0, over about one pixel."""
    return 1.0 / (1.0 + np.exp(np.clip(d / 0.5, -30, 30)))


def bounce(p0, v, t_s, lo=-8.0, hi=SIZE + 8.0):
    p = (p0 + v * t_s - lo) % (2 * (hi - lo))
    return lo + np.where(p > hi - lo, 2 * (hi - lo) - p, p)


def saccades(t_ms: float, amp: float) -> tuple[float, float]:
    """N-MNIST's camera motion: a triangle of three straight moves, ~100 ms each, repeating."""
    corners = np.array([[0, 0], [amp, amp / 2], [0, amp], [0, 0]], float)
    ph = (t_ms % 300) / 100.0
    i = int(ph)
    f = ph - i
    y, x = corners[i] + f * (corners[i + 1] - corners[i])
    return y, x


def texture(rng, scale: float, size: int = 96) -> np.ndarray:
    """A smooth random texture in [0.15, 1] (noise low-passed at ``scale`` pixels)."""
    f = np.fft.fftfreq(size)
    k = np.sqrt(f[:, None] ** 2 + f[None] ** 2)
    spec = np.fft.fft2(rng.normal(size=(size, size))) * np.exp(-(k * scale) ** 2 * 8)
    img = np.real(np.fft.ifft2(spec))
    img = (img - img.min()) / (np.ptp(img) + 1e-9)
    return 0.15 + 0.85 * img


def shift_img(img: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """Bilinear crop of ``img`` at offset (dy, dx), wrapping."""
    n = img.shape[0]
    y = (GRID[0] + dy) % n
    x = (GRID[1] + dx) % n
    y0, x0 = np.floor(y).astype(int), np.floor(x).astype(int)
    fy, fx = y - y0, x - x0
    y1, x1 = (y0 + 1) % n, (x0 + 1) % n
    return ((1 - fy) * (1 - fx) * img[y0, x0] + (1 - fy) * fx * img[y0, x1]
            + fy * (1 - fx) * img[y1, x0] + fy * fx * img[y1, x1])


def scene(kind: str, rng: np.random.Generator):
    bg = rng.uniform(0.3, 0.8)
    if kind == "blobs":  # 1-3 ellipses, darker or brighter, drifting and bouncing
        n = rng.integers(1, 4)
        c0 = rng.uniform(0, SIZE, (n, 2))
        v = rng.uniform(-80, 80, (n, 2))
        r = rng.uniform(2, 12, (n, 2))
        lv = rng.choice([0.1, 1.0], n) * rng.uniform(0.8, 1.0, n)

        def render(t):
            img = np.full((SIZE, SIZE), bg)
            for i in range(n):
                c = bounce(c0[i], v[i], t / 1e3)
                d = np.sqrt(((GRID[0] - c[0]) / r[i, 0]) ** 2 + ((GRID[1] - c[1]) / r[i, 1]) ** 2) - 1
                img = img + (lv[i] - img) * soft(d * r[i].mean())
            return img
    elif kind == "planes":  # small dark shapes crossing a plain background (toy-airplane-like)
        n = rng.integers(2, 5)
        c0 = rng.uniform(0, SIZE, (n, 2))
        v = rng.uniform(30, 150, (n, 2)) * rng.choice([-1, 1], (n, 2))
        r = rng.uniform(1.2, 4, n)
        elong = rng.uniform(1, 3, n)

        def render(t):
            img = np.full((SIZE, SIZE), bg)
            for i in range(n):
                c = bounce(c0[i], v[i], t / 1e3, -6, SIZE + 6)
                d = np.sqrt(((GRID[0] - c[0]) / r[i]) ** 2 + ((GRID[1] - c[1]) / (r[i] * elong[i])) ** 2) - 1
                img = img * (1 - 0.85 * soft(d * r[i]))
            return img
    elif kind == "sweep":  # a large textured object entering, moving about, leaving (person/hand-like)
        tex = texture(rng, rng.uniform(2, 6))
        r = rng.uniform(10, 30)
        c0 = np.array([rng.uniform(-20, 0), rng.uniform(0, SIZE)])
        v = np.array([rng.uniform(20, 90), rng.uniform(-40, 40)])
        wob = rng.uniform(2, 8)

        def render(t):
            c = c0 + v * t / 1e3 + wob * np.sin(t / 1e3 * 2 * np.pi * np.array([1.3, 0.7]))
            d = np.sqrt((GRID[0] - c[0]) ** 2 + (GRID[1] - c[1]) ** 2) - r
            obj = shift_img(tex, -c[0], -c[1]) * 0.8
            m = soft(d)
            return bg * (1 - m) + obj * m
    elif kind in ("texture-drift", "texture-saccade"):
        tex = texture(rng, rng.uniform(1.5, 8))
        v = rng.uniform(-60, 60, 2)
        amp = rng.uniform(2, 5)

        def render(t):
            if kind == "texture-drift":
                dy, dx = v * t / 1e3
            else:
                dy, dx = saccades(t, amp)
            return shift_img(tex, dy, dx)
    elif kind == "scribble-saccade":  # 4-9 random strokes or a grid of bars, moved like N-MNIST's camera
        img0 = np.zeros((SIZE + 16, SIZE + 16))
        yy, xx = np.mgrid[0:SIZE + 16, 0:SIZE + 16].astype(float)
        if rng.random() < 0.3:  # bars / grid
            period, width = rng.uniform(5, 10), rng.uniform(1.2, 3)
            ang = rng.uniform(0, np.pi)
            u = yy * np.cos(ang) + xx * np.sin(ang)
            img0 = (np.abs((u % period) - period / 2) < width / 2).astype(float)
            if rng.random() < 0.5:
                u2 = yy * np.cos(ang + np.pi / 2) + xx * np.sin(ang + np.pi / 2)
                img0 = np.maximum(img0, (np.abs((u2 % period) - period / 2) < width / 2))
        else:
            pts = rng.uniform(8, SIZE + 8, (rng.integers(5, 10), 2))
            w = rng.uniform(1.0, 2.0)
            for a, b in zip(pts[:-1], pts[1:]):
                ab = b - a
                tt = np.clip(((yy - a[0]) * ab[0] + (xx - a[1]) * ab[1]) / (ab @ ab + 1e-9), 0, 1)
                dist = np.hypot(yy - a[0] - tt * ab[0], xx - a[1] - tt * ab[1])
                img0 = np.maximum(img0, soft(dist - w))
        img0 = 0.15 + 0.8 * img0  # bright strokes on dark, as N-MNIST's screen shows digits
        amp = rng.uniform(2, 5)

        def render(t):
            dy, dx = saccades(t, amp)
            return shift_img(img0, dy + 8, dx + 8)[:SIZE, :SIZE]
    else:
        raise ValueError(kind)
    return render


KINDS = ("blobs", "planes", "sweep", "texture-drift", "texture-saccade", "scribble-saccade")


def synthetic_streams(per_kind: int, seed: int, duration_ms: int = 1200) -> list[tuple[str, EventBatch]]:
    out = []
    for k, kind in enumerate(KINDS):
        for i in range(per_kind):
            rng = np.random.default_rng([seed, k, i])
            out.append((kind, dvs(scene(kind, rng), duration_ms, rng, contrast=rng.uniform(0.15, 0.3))))
    return out


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
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1))


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
