"""Write the stand-in data docs/own-classes.md starts from, for a reader without a camera.

    python scripts/make_own_classes_demo.py [--shared ../shared/data] [--out demo]

Writes OUT/my-clips/ (labelled .aedat4 recordings, three clips each), OUT/my-pictures/ (one
folder of PNG images per class) and OUT/another-take.aedat4 (+ its labels): N-MNIST validation
samples and MNIST images regrouped into three classes the shipped model does not have
(straight 1/4/7, round 0/6/8/9, curvy 2/3/5). See scripts/standin.py.
N-MNIST is CC BY-SA 4.0 (Orchard et al. 2015), MNIST CC BY-SA 3.0 (LeCun, Cortes, Burges).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if not __package__:  # run as a file, not with -m: import this checkout's packages
    sys.path.insert(0, str(REPO))

from r2etl_core.errors import R2ETLError  # noqa: E402
from scripts.standin import write_tutorial_data  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"), help="folder holding nmnist/ and mnist/")
    ap.add_argument("--out", default="demo", help="folder to write to (default: demo)")
    ap.add_argument("--clips", type=int, default=6, help="labelled clips per class (default 6)")
    args = ap.parse_args(argv)
    if (Path(args.out) / "my-clips").exists():
        print(f"{args.out}/my-clips: already there (choose another --out)", file=sys.stderr)
        return 2
    try:
        written = write_tutorial_data(args.shared, args.out, args.clips)
    except (R2ETLError, FileNotFoundError) as exc:
        print(exc, file=sys.stderr)
        return 2
    for name, path in written.items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
