"""Stand-in DAVIS recordings WITH grey frames: moving shapes, events and APS frames of one scene.

    python scripts/make_frames_standin.py --out demo-frames [--recordings 6] [--seed 0]

No labelled recording with APS frames is public in ../shared (the DAVIS346 files there are
0.1-2.4 s long and show no classes), so this renders one: a bright shape (``disc``,
``square``, ``triangle``, ``cross``; random size, rotation and path) moves over a static
textured background. Events come from a simple DVS model on the rendered log intensity
(a pixel fires one event per ``CONTRAST`` step of change, rendered every 1 ms) plus
background noise; a grey frame (with read noise) is taken every 40 ms, as a DAVIS346 at 25 Hz.
Each recording shows every class once, in a shuffled order, between idle gaps (labelled
``idle``), and gets its ``<name>.labels.csv`` sidecar.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
if not __package__:  # run as a file, not with -m: import this checkout's packages
    sys.path.insert(0, str(REPO))

from r2etl_core.io.aps_frames import CameraFrames, write_recording_with_frames  # noqa: E402
from r2etl_core.io.labels import LabelSegment, write_labels  # noqa: E402
from r2etl_core.types import EventBatch  # noqa: E402

SHAPES = ("disc", "square", "triangle", "cross")
SENSOR = (128, 96)  # width, height: 4:3 like a DAVIS346, small enough to render fast
CONTRAST = 0.2  # log-intensity step per event
NOISE_HZ = 0.5  # background events per pixel per second
FRAME_US = 40_000
STEP_US = 1_000
T0_US = 1_700_000_000_000_000  # absolute timestamps, as a camera gives them
SUB = 16  # cv2 drawing: 4 fractional bits


def background(rng: np.random.Generator) -> np.ndarray:
    """A static, smooth, low-contrast texture (uint8): gives the frames a scene, no events."""
    w, h = SENSOR
    noise = cv2.resize(rng.random((h // 8, w // 8)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(50 + 30 * noise, 0, 255).astype(np.uint8)


def draw(image: np.ndarray, shape: str, cx: float, cy: float, r: float, angle: float) -> None:
    """``shape`` of radius ``r`` px centred at (cx, cy), rotated by ``angle``, drawn bright."""
    if shape == "disc":
        cv2.circle(image, (round(cx * SUB), round(cy * SUB)), round(r * SUB), 200, -1, cv2.LINE_AA, 4)
        return
    if shape == "cross":
        a = np.asarray([(-1, -.3), (-.3, -.3), (-.3, -1), (.3, -1), (.3, -.3), (1, -.3), (1, .3), (.3, .3),
                        (.3, 1), (-.3, 1), (-.3, .3), (-1, .3)])
    else:
        k = 4 if shape == "square" else 3
        a = np.stack([np.cos(2 * np.pi * np.arange(k) / k), np.sin(2 * np.pi * np.arange(k) / k)], 1)
    rot = np.asarray([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    pts = (a @ rot.T) * r + (cx, cy)
    cv2.fillPoly(image, [np.round(pts * SUB).astype(np.int32)], 200, cv2.LINE_AA, 4)


def render_segment(shape: str, duration_us: int, rng: np.random.Generator):
    """A function t_us -> uint8 image of ``shape`` moving for ``duration_us`` (None: idle)."""
    w, h = SENSOR
    r = rng.uniform(9, 14)
    speed = rng.uniform(60, 140)  # px/s
    heading, spin = rng.uniform(0, 2 * np.pi), rng.uniform(-2, 2)  # rad, rad/s
    x0, y0, angle0 = rng.uniform(w / 2 - 20, w / 2 + 20), rng.uniform(h / 2 - 15, h / 2 + 15), rng.uniform(0, 6.3)
    lo, hi = np.asarray([w / 2 - h / 2 + r, r]), np.asarray([w / 2 + h / 2 - r, h - r])

    def position(t_s: float) -> tuple[float, float]:
        """Straight lines reflected at the edges of the centred square (what the model sees)."""
        p = np.asarray([x0, y0]) + speed * t_s * np.asarray([np.cos(heading), np.sin(heading)]) - lo
        span = hi - lo
        p = np.mod(p, 2 * span)
        p = np.where(p > span, 2 * span - p, p) + lo
        return float(p[0]), float(p[1])

    def image(t_us: int, base: np.ndarray) -> np.ndarray:
        out = base.copy()
        if shape is not None:
            t_s = t_us / 1e6
            draw(out, shape, *position(t_s), r, angle0 + spin * t_s)
        return out
    return image


def fire(cur: np.ndarray, ref: np.ndarray, t_us: int, rng: np.random.Generator) -> list[np.ndarray]:
    """DVS model: pixels whose log intensity left ``ref`` by >= CONTRAST fire (ref follows)."""
    log = np.log(cur.astype(np.float32) + 10.0)
    diff = log - ref
    n = np.floor(np.abs(diff) / CONTRAST).astype(np.int64)
    ys, xs = np.nonzero(n)
    if not len(ys):
        return []
    counts = n[ys, xs]
    ref[ys, xs] += np.sign(diff[ys, xs]) * counts * CONTRAST
    xs, ys = np.repeat(xs, counts), np.repeat(ys, counts)
    pol = (diff[ys, xs] > 0).astype(np.int64)
    ts = t_us - STEP_US + rng.integers(0, STEP_US, len(xs))
    return [np.stack([ts, xs, ys, pol], 1)]


def render_recording(order: list[str], rng: np.random.Generator, seconds: tuple[float, float] = (1.2, 1.8),
                     idle_s: float = 0.3) -> tuple[EventBatch, CameraFrames, list[LabelSegment]]:
    """Events, frames and labels of one recording showing the shapes of ``order`` in turn."""
    base = background(rng)
    plan, t = [], 0
    for shape in order:
        plan.append((None, t, t + int(idle_s * 1e6)))
        t += int(idle_s * 1e6)
        d = int(rng.uniform(*seconds) * 1e6)
        plan.append((shape, t, t + d))
        t += d
    plan.append((None, t, t + int(idle_s * 1e6)))
    t = plan[-1][2]
    ref = np.log(base.astype(np.float32) + 10.0)
    parts, frame_t, frame_img = [], [], []
    for shape, start, end in plan:
        image = render_segment(shape, end - start, rng)
        for now in range(start + STEP_US, end + 1, STEP_US):
            cur = image(now - start, base)
            parts += fire(cur, ref, now, rng)
            if now // FRAME_US != (now - STEP_US) // FRAME_US:  # a frame every FRAME_US
                noisy = cur.astype(np.float32) + rng.normal(0, 3, cur.shape)
                frame_t.append(now)
                frame_img.append(np.clip(noisy, 0, 255).astype(np.uint8))
    w, h = SENSOR
    n_noise = rng.poisson(NOISE_HZ * w * h * t / 1e6)
    noise = np.stack([rng.integers(0, t, n_noise), rng.integers(0, w, n_noise), rng.integers(0, h, n_noise),
                      rng.integers(0, 2, n_noise)], 1)
    ev = np.concatenate(parts + [noise])
    ev = ev[np.argsort(ev[:, 0], kind="stable")]
    events = EventBatch(ev[:, 0] + T0_US, ev[:, 1].astype(np.int16), ev[:, 2].astype(np.int16),
                        ev[:, 3].astype(np.int8), w, h)
    frames = CameraFrames(np.asarray(frame_t, np.int64) + T0_US, np.stack(frame_img))
    labels = [LabelSegment(s + T0_US, e + T0_US, shape or "idle") for shape, s, e in plan]
    return events, frames, labels


def write_shape_recordings(out_dir: str | Path, n: int, seed: int, prefix: str = "take",
                           shapes: tuple[str, ...] = SHAPES, seconds: tuple[float, float] = (1.2, 1.8)) -> list[Path]:
    """``n`` labelled recordings with frames in ``out_dir``, each showing every shape once."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for k in range(n):
        rng = np.random.default_rng([seed, k])
        order = list(shapes)
        random.Random(f"{seed}:{k}").shuffle(order)
        events, frames, labels = render_recording(order, rng, seconds)
        path = write_recording_with_frames(out_dir / f"{prefix}-{k:03d}.aedat4", events, frames, "DAVIS-standin")
        write_labels(path.with_name(f"{prefix}-{k:03d}.labels.csv"), labels)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="demo-frames")
    ap.add_argument("--recordings", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    for path in write_shape_recordings(args.out, args.recordings, args.seed):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
