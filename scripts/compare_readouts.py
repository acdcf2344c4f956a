"""Score every streaming readout on the continuous test streams and print a Markdown table.

    python scripts/make_continuous_streams.py          # once: writes runs/streams/
    python scripts/compare_readouts.py [--streams runs/streams] [--json out.json]

For each readout and stream: segment accuracy (majority per labelled segment; "no decision"
is wrong on a digit and right on an idle stretch), settle time p50 (from a digit's start
until the prediction stays right), the "no decision" rate on digits and on idle noise, and
the model step p50 on this machine (the CPU cost of the readout). This is how the default
readout (``r2etl_core.types.Readout()``) was chosen: see docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if not __package__:  # run as a file, not with -m: import this checkout's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from r2etl_core.stream.classify import ClassifyRequest, classify_input
from r2etl_core.stream.settings import StreamSettings
from r2etl_core.types import Readout, ResetPolicy

REPO = Path(__file__).resolve().parents[1]
READOUTS = {
    "since-reset (before 0.2)": Readout("since-reset"),
    "window T": Readout("window"),
    "ema 75 ms": Readout("ema", tau_ms=75),
    "ema 100 ms": Readout("ema", tau_ms=100),
    "ema 150 ms": Readout("ema", tau_ms=150),
    "ema 300 ms": Readout("ema", tau_ms=300),
    "staggered K=2": Readout("staggered", copies=2),
    "staggered K=5": Readout("staggered", copies=5),
    "sliding (staggered K=T)": Readout("staggered", copies=10),
}
STREAMS = ["held-noise0hz", "held-noise1hz", "held-noise5hz", "single-noise1hz", "mixed",
           "idle-noise1hz", "idle-noise5hz"]


def run(stream: Path, readout: Readout) -> dict:
    settings = StreamSettings(readout=readout, reset=ResetPolicy())
    return classify_input(ClassifyRequest(str(stream), settings=settings))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--streams", default=str(REPO / "runs" / "streams"))
    ap.add_argument("--json", help="also write every summary to this JSON file")
    ap.add_argument("--only", nargs="*", help="readout names to run (default: all)")
    args = ap.parse_args()
    streams = [Path(args.streams) / f"{name}.aedat4" for name in STREAMS]
    streams.append(REPO / "recordings" / "nmnist-demo.aedat4")
    results = {}
    header = "| readout | " + " | ".join(s.stem for s in streams) + " | step p50 ms |"
    print(header)
    print("|---" * (len(streams) + 2) + "|")
    for name, readout in READOUTS.items():
        if args.only and name not in args.only:
            continue
        row, steps = [], []
        for stream in streams:
            s = run(stream, readout)
            results[f"{name} / {stream.stem}"] = s
            steps.append(s["model_ms_p50"])
            if stream.stem.startswith("idle"):
                row.append(f"idle {s['abstain_rate_idle']:.0%}")
            else:
                settle = "-" if s["settle_ms_p50"] is None else f"{s['settle_ms_p50']:.0f}"
                idle = f" (idle {s['abstain_rate_idle']:.0%})" if stream.stem == "mixed" else ""
                row.append(f"{s['segment_accuracy']:.2f} / {settle} / {s['abstain_rate']:.0%}{idle}")
        steps.sort()
        print(f"| {name} | " + " | ".join(row) + f" | {steps[len(steps) // 2]:.1f} |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
