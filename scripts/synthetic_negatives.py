"""Synthetic event streams of things that are not digits, for choosing an "unknown" score
without the real non-digit recordings (scripts/unknown_variants.py).

Blobs, small shapes crossing the view, a large object sweeping it, drifting and saccading
textures, and scribbles moved in N-MNIST-like saccades, each rendered as log intensity and turned
into events by a simple DVS model (per-pixel contrast threshold) plus 1 Hz/pixel noise, 34x34.
"""

from __future__ import annotations


import numpy as np

from r2etl_core.train.datasets.continuous import background_noise
from r2etl_core.types import EventBatch

SIZE = 34


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


