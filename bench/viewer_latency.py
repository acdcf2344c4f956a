"""In-viewer latency vs headless, same recording, same machine, same engine settings.

    python bench/viewer_latency.py [--seconds 15] [RECORDING ...]

Runs each recording looped at 1x for --seconds twice: headless (the viewer's engine config,
no GUI) and inside r2etl-viewer (offscreen unless DISPLAY is set), then prints model step and
events-to-prediction latency p50/p99 and the viewer/headless p99 ratio (target <= 1.5).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as a file, not with -m: import this checkout's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[1]
DEFAULTS = [REPO / "recordings" / "nmnist-demo.aedat4",
            REPO.parent / "shared" / "data" / "recordings" / "dvxplorer-320x240-person.aedat4"]


def headless(recording: Path, seconds: float) -> dict:
    from app.session import VIEWER_ENGINE
    from r2etl_core.stream.session import LiveSession

    # the viewer's session and engine without the viewer: outputs taken at a display's rate
    session = LiveSession(engine_config=VIEWER_ENGINE, speed=1.0, loop=True)
    session.load_model()
    session.start_input(session.open_input(str(recording)))
    end = time.monotonic() + seconds
    while time.monotonic() < end and not session.engine.wait(1 / 30):
        session.poll(with_stats=False)
    stats = session.engine.stats()
    session.close()
    return {"model_ms_p50": stats.model_ms_p50, "model_ms_p99": stats.model_ms_p99,
            "latency_ms_p50": stats.latency_ms_p50, "latency_ms_p99": stats.latency_ms_p99,
            "dropped": stats.dropped, "slices": stats.slices_done}


def in_viewer(recording: Path, seconds: float) -> dict:
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen" if not env.get("DISPLAY") else env.get("QT_QPA_PLATFORM", ""))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "stats.json"
        subprocess.run([sys.executable, "-m", "app.main", str(recording), "--loop", "--quit-after", str(seconds),
                        "--stats-json", str(out)], env=env, check=True, timeout=seconds + 120, cwd=REPO)
        stats = json.loads(out.read_text())
    return {k: stats[k] for k in ("model_ms_p50", "model_ms_p99", "latency_ms_p50", "latency_ms_p99",
                                  "dropped")} | {"slices": stats["slices_done"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("recordings", nargs="*", type=Path)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--json", help="also write the numbers here")
    args = ap.parse_args()
    results = {}
    print("| recording | run | step p50 / p99 ms | events->prediction p50 / p99 ms | dropped |")
    print("|---|---|---|---|---|")
    for rec in args.recordings or [p for p in DEFAULTS if p.exists()]:
        runs = {"headless": headless(rec, args.seconds), "viewer": in_viewer(rec, args.seconds)}
        for name, r in runs.items():
            print(f"| {rec.name} | {name} | {r['model_ms_p50']:.2f} / {r['model_ms_p99']:.2f} | "
                  f"{r['latency_ms_p50']:.2f} / {r['latency_ms_p99']:.2f} | {r['dropped']} of {r['slices']} |")
        ratio = runs["viewer"]["latency_ms_p99"] / max(runs["headless"]["latency_ms_p99"], 1e-6)
        print(f"| {rec.name} | viewer/headless p99 | | {ratio:.2f}x (target <= 1.5) | |", flush=True)
        results[rec.name] = runs | {"p99_ratio": ratio}
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
