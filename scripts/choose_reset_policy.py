"""Score every reset policy on the demo recording and print a Markdown table.

    python scripts/choose_reset_policy.py [recordings/nmnist-demo.aedat4]

Used to pick the default policy (the defaults of r2etl_core.types.ResetPolicy); the numbers are in
docs/benchmarks.md.
"""

import sys
from pathlib import Path

if not __package__:  # run as a file, not with -m: import this checkout's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from r2etl_core.stream.classify import ClassifyRequest, classify_input
from r2etl_core.stream.settings import StreamSettings
from r2etl_core.types import ResetPolicy

REPO = Path(__file__).resolve().parents[1]

CANDIDATES = [
    ResetPolicy("silence", silence_us=10_000),
    ResetPolicy("silence", silence_us=20_000),
    ResetPolicy("silence", silence_us=40_000),
    ResetPolicy("window", window_slices=10),
    ResetPolicy("window", window_slices=12),
    ResetPolicy("manual"),
]


def main() -> None:
    recording = sys.argv[1] if len(sys.argv) > 1 else str(REPO / "recordings" / "nmnist-demo.aedat4")
    print("| policy | segment accuracy | slice accuracy | segments |")
    print("|---|---|---|---|")
    for policy in CANDIDATES:
        s = classify_input(ClassifyRequest(recording, settings=StreamSettings(reset=policy)))
        name = (f"silence {policy.silence_us // 1000} ms" if policy.kind == "silence" else
                f"window {policy.window_slices} slices" if policy.kind == "window" else "manual (never)")
        print(f"| {name} | {s['segment_accuracy']:.3f} | {s['slice_accuracy']:.3f} | {s['segments']} |")


if __name__ == "__main__":
    main()
