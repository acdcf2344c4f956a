"""``r2etl doctor``: check this machine before a demo; one line per check, exit 0/1."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from r2etl_core.parse import check_device

RECORDINGS = Path(__file__).resolve().parents[2] / "recordings"  # the viewer's default folder

DOCTOR_HELP = """\
Check what a live demo needs, one line each (ok / warn / fail, and the fix): torch and the
GPU it would use, spikingjelly, dv-processing, nir, the event cameras attached, Qt and
whether a window can open here, whether the recordings folder is writable, the model file's
sha256 (and that it loads and passes the model checks) and one network step on the device
the viewer would use. No GPU or no camera is a warning (recordings still replay on the
CPU). Exit status 0 when nothing failed, 1 otherwise. The viewer's Help menu shows the same.

examples:
  r2etl doctor
  r2etl doctor --recordings ~/demo-recordings --model runs/mine/best.safetensors
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check this machine before a demo (exit 1 if something fails)",
                       description=DOCTOR_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recordings", default=None, metavar="DIR",
                   help="folder recordings are written to (default: the bundled recordings/ folder "
                        "when present, else the current folder)")
    p.add_argument("--model", help="model file to check (default: the bundled N-MNIST model)")
    p.add_argument("--device", help="cpu, cuda or cuda:N for the smoke run (default: CUDA when present)")
    p.add_argument("--json", action="store_true", help="print the checks as one JSON line")
    p.set_defaults(func=cmd_doctor)


def default_recordings() -> Path:
    return RECORDINGS if RECORDINGS.is_dir() else Path.cwd()


def cmd_doctor(args: argparse.Namespace) -> int:
    from r2etl_core import doctor

    checks = doctor.run_checks(args.recordings or default_recordings(), args.model, check_device(args.device))
    if args.json:
        print(json.dumps({"checks": [c.to_dict() for c in checks], "exit": doctor.exit_code(checks)}))
    else:
        print(doctor.report_text(checks))
    return doctor.exit_code(checks)
