"""``r2etl classify``, ``r2etl info`` and ``r2etl bench``: the streaming engine without Qt."""

from __future__ import annotations

import argparse
import json
import sys

from r2etl_core.limits import DEFAULT_STALL_S
from r2etl_core.parse import SLICE_US_MAX, SLICE_US_MIN, check_device, check_number, check_slice_us
from r2etl_core.stream.settings import StreamSettings
from r2etl_core.types import READOUT_KINDS, RESET_KINDS, Readout, ResetPolicy, SliceByTime


CLASSIFY_HELP = """\
Replay INPUT as fast as possible through the same engine the viewer uses (time slices ->
spiking network with state carried across slices) and print one summary. Every slice is
classified (nothing is dropped). INPUT is an event recording (.aedat4, Prophesee .raw EVT
2.0/3.0 or .dat, Event Stream .es, .csv t,x,y,p, HDF5 .h5/.hdf5, jAER .aedat 2.0/3.1), an
N-MNIST .bin file or folder, "camera[:SERIAL]" or HOST:PORT of a DV network stream (stop those with Ctrl+C: the
summary still comes; a stream that sends nothing for --stall-s seconds ends with input_lost).
If INPUT has a labels sidecar (<name>.labels.csv: start_us,end_us,label) the summary
includes segment_accuracy: the fraction of labelled segments whose majority prediction is right
("no decision" is wrong on an object; on an "idle" segment "nothing there" is right, on an
"unknown" segment "unknown" is), settle_ms_p50 (from a segment's start until the answer stays
right) and abstain_rate (slices with no decision), split into abstain_unknown_rate (answered
"unknown": something that is none of the model's classes) and abstain_nothing_rate (nothing but
background noise in the square).

examples:
  r2etl classify recordings/nmnist-demo.aedat4
  r2etl classify recordings/nmnist-demo.aedat4 --out preds.jsonl --json
  r2etl classify my.aedat4 --model runs/exp1/best.safetensors --slice-us 20000
  r2etl classify my.aedat4 --readout staggered --copies 5      the training condition, 5x the cost
  r2etl classify my.aedat4 --unknown-threshold off            always name a class when active
  r2etl classify my.aedat4 --plot my-timeline.png              where the model is right and wrong, at a glance
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("classify", help="classify a recording or stream slice by slice",
                       description=CLASSIFY_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="event recording (.aedat4, .raw, .dat, .es, .csv, .h5, .aedat), N-MNIST .bin "
                                 "file/folder, camera[:SERIAL] or HOST:PORT")
    p.add_argument("--model", help="model file (.safetensors); default: the bundled N-MNIST model")
    p.add_argument("--out", help="write one JSON line per slice to this file (written atomically)")
    p.add_argument("--plot", metavar="FILE.png",
                   help="also draw every slice's answer along the recording (the labels above it, when there "
                        "are any), coloured as in the viewer's timeline: where the model is wrong at a glance")
    p.add_argument("--force", action="store_true",
                   help="let --out/--plot replace an existing file that is not a prediction log "
                        "(never the input, its labels or the model)")
    p.add_argument("--slice-us", type=float, help=f"slice length in microseconds, {SLICE_US_MIN:,} .. "
                                                   f"{SLICE_US_MAX:,} (default: the model's)")
    p.add_argument("--reset", choices=list(RESET_KINDS), default=None,
                   help=f"when to reset the network state (default: {ResetPolicy().kind})")
    p.add_argument("--silence-ms", type=float, default=None,
                   help="silence reset: reset after this many ms without events "
                        f"(default {ResetPolicy().silence_us / 1000:g})")
    p.add_argument("--window-slices", type=float, default=None,
                   help="window reset: reset every N slices (default: the model's T)")
    p.add_argument("--readout", choices=list(READOUT_KINDS), default=None,
                   help="how per-slice outputs become the prediction (default: %s): ema = moving "
                        "average with --tau-ms; window = mean of the last --readout-slices; staggered "
                        "= --copies network copies restarted from rest at spread offsets; "
                        "since-reset = mean since the last reset (the pre-0.2 behaviour)" % Readout().kind)
    p.add_argument("--tau-ms", type=float, default=None,
                   help=f"ema readout: time constant in ms (default {Readout().tau_ms:g})")
    p.add_argument("--readout-slices", type=float, default=None,
                   help="window/staggered readout: slices per window (default: the model's T)")
    p.add_argument("--copies", type=float, default=None,
                   help=f"staggered readout: network copies run side by side (default {Readout().copies})")
    p.add_argument("--min-margin", type=float, default=None,
                   help="say 'no decision' when the top two class probabilities differ by less "
                        f"(default {Readout().min_margin:g}; 0 never abstains on margin)")
    p.add_argument("--unknown-threshold", default=None, metavar="auto|off|D",
                   help="say 'unknown' (not one of the model's classes) when the network's features are "
                        "further than D from every class (the 'unknown_score' of each JSONL line); auto "
                        "(default): the threshold calibrated into the model file; off: never")
    p.add_argument("--min-activity", type=float, default=None,
                   help="say 'no decision' when the region shows fewer events per slice above the "
                        "noise floor (default: automatic, from the stream's own noise)")
    p.add_argument("--denoise-us", type=float, default=None, metavar="US",
                   help="drop isolated noise events: keep an event only if a neighbour fired within US "
                        "microseconds before it (dv-processing background-activity filter; off by default)")
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when present)")
    p.add_argument("--stall-s", type=float, default=None, metavar="S",
                   help="network input: give up when the stream sends nothing for S seconds, "
                        f"while connecting or later (default {DEFAULT_STALL_S:g})")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON line (last line of stdout)")
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("info", help="show what a recording or model file holds",
                       description="Print what FILE holds: a recording's camera, resolution, duration and "
                                   "event count, or a model's architecture, classes, slicing and metrics.")
    p.add_argument("file", help="event recording (.aedat4, .raw, .dat, .es, .csv, .h5, .aedat), .bin sample "
                                "or .safetensors model")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("bench", help="measure throughput and latency on this machine",
                       description="Measure binning throughput against plain np.bincount, per-slice model "
                                   "latency (CPU, and GPU when present) and end-to-end slices/s, "
                                   "each against a baseline in the same run.")
    p.add_argument("--model", help="model file (default: the bundled model)")
    p.add_argument("--recording", help="recording for the end-to-end run (default: bundled demo)")
    p.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    p.add_argument("--json", action="store_true", help="print results as one JSON line")
    p.set_defaults(func=cmd_bench)


def stream_settings(args: argparse.Namespace) -> StreamSettings:
    """The stream settings the flags ask for; flags not given keep the defaults."""
    from r2etl_core.stream.pipeline import StreamSettings

    default = ResetPolicy()
    reset = ResetPolicy(
        kind=args.reset or default.kind,
        silence_us=default.silence_us if args.silence_ms is None
        else int(check_number("--silence-ms", args.silence_ms, 0.1, 60_000, "ms") * 1000),
        window_slices=default.window_slices if args.window_slices is None
        else int(check_number("--window-slices", args.window_slices, 1, 100_000)))
    denoise = None if args.denoise_us is None \
        else int(check_number("--denoise-us", args.denoise_us, 1, 10_000_000, "us"))
    slicing = None if args.slice_us is None else SliceByTime(check_slice_us(args.slice_us))
    return StreamSettings(slicing=slicing, reset=reset, readout=readout_from(args), denoise_us=denoise)


def readout_from(args: argparse.Namespace) -> Readout:
    """The readout the flags ask for; flags not given keep ``Readout()``'s defaults."""
    d = Readout()

    def pick(value, name: str, default, low: float, high: float, unit: str = ""):
        return default if value is None else type(default)(check_number(name, value, low, high, unit))

    return Readout(kind=args.readout or d.kind,
                   tau_ms=pick(args.tau_ms, "--tau-ms", d.tau_ms, 1, 60_000, "ms"),
                   window_slices=pick(args.readout_slices, "--readout-slices", d.window_slices, 1, 1000),
                   copies=pick(args.copies, "--copies", d.copies, 1, 64),
                   min_margin=pick(args.min_margin, "--min-margin", d.min_margin, 0, 1),
                   min_activity=pick(args.min_activity, "--min-activity", d.min_activity, 0, 1e9, "events"),
                   unknown_threshold=unknown_threshold(getattr(args, "unknown_threshold", None)))


def unknown_threshold(value: str | None) -> float:
    """``--unknown-threshold``: auto (the model's, 0), off (inf) or a positive distance."""
    if value is None or value.strip().lower() == "auto":
        return Readout().unknown_threshold
    if value.strip().lower() == "off":
        return float("inf")
    return check_number("--unknown-threshold", value, 1e-6, 1e12)


def print_result(result: dict, as_json: bool) -> None:
    """One JSON line (machine-readable, last line of stdout) or aligned ``key: value`` lines."""
    if as_json:
        print(json.dumps(result))
        return
    width = max(map(len, result), default=0)
    for key, value in result.items():
        print(f"{key:>{width}}: {value}")


def cmd_classify(args: argparse.Namespace) -> int:
    from r2etl_core.stream.classify import ClassifyRequest, classify_input

    stall_s = DEFAULT_STALL_S if args.stall_s is None else check_number("--stall-s", args.stall_s, 0.1, 86_400, "s")
    request = ClassifyRequest(args.input, model=args.model, out=args.out, settings=stream_settings(args),
                              device=check_device(args.device), stall_s=stall_s,
                              force=args.force, plot=args.plot)
    print_result(classify_input(request, progress=not args.json and sys.stderr.isatty()), args.json)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from r2etl_core.io.fileinfo import describe

    print_result(describe(args.file), args.json)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from r2etl_core.cli.bench import run_bench

    return run_bench(args)
