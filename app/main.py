"""``r2etl-viewer``: command line, display check, and start-up of the Qt viewer.

Exit codes: 0 normal exit (also after ``--screenshot``), 2 bad command line input (one line on
stderr: unreadable recording or model, no camera, refused connection, no display), 1 an
unexpected failure. Inputs chosen later in the GUI report problems in dialogs instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from r2etl_core.cli.main import OneLineParser
from r2etl_core.errors import InputError
from r2etl_core.io.files import check_output_path
from r2etl_core.limits import DEFAULT_STALL_S
from r2etl_core.parse import SPEED_MAX, SPEED_MIN, check_number, parse_host_port, parse_speed

from .defaults import DEFAULT_SCREENSHOT_S, PROG

DESCRIPTION = """\
Watch a spiking neural network classify an event stream, live: the events with the region
the model sees, class probabilities (and the true label when the recording has a
<name>.labels.csv beside it), per-layer spiking activity and latency.

Without an input it replays the bundled demo, recordings/nmnist-demo.aedat4, with the
default model.

examples:
  r2etl-viewer                                    the demo recording, default model
  r2etl-viewer my.aedat4 --speed 0.5 --loop       replay a file at half speed, forever
  r2etl-viewer path/to/N-MNIST/Test/3             replay a folder of N-MNIST .bin samples
  r2etl-viewer --camera                           the first attached event camera
  r2etl-viewer --connect 192.168.1.20:7777        a DV network event stream
  r2etl-viewer --model other.safetensors          another trained model
  QT_QPA_PLATFORM=offscreen r2etl-viewer --screenshot shot.png --quit-after 5

in the window:
  drag the yellow square (corners resize) to choose what the model sees; Space pauses;
  the time slider seeks; Record... saves a camera or network input to .aedat4 with the
  predictions beside it (.predictions.jsonl). Label what you see with the label bar's keys
  (a class's own digit or letter, else 1-9, 0, a, b, ...; Esc or - ends a label; Ctrl+Z
  undoes): while recording into <name>.labels.csv beside it, and in a replayed .aedat4 (tick
  "edit labels") into that file's labels. A DAVIS recording's own camera frames are shown
  under the events ("show camera frames"). Under the time slider, the model's answer for the
  whole recording (labels above): click to jump. Teach... (Ctrl+T) trains the model on your
  labelled recordings while the stream plays, then switches to the new model in one click.

An unusable RECORDING, --model, camera or connection exits with status 2 and one line on
stderr; inputs chosen later in the window report problems in a dialog.
"""

NO_DISPLAY = (f"{PROG}: error: no display (neither DISPLAY nor WAYLAND_DISPLAY is set); for a "
              f"screenshot without one run QT_QPA_PLATFORM=offscreen {PROG} --screenshot out.png "
              f"--quit-after 5, or classify without a GUI: r2etl classify RECORDING")


def _argtype(parse):
    """An argparse ``type=`` from one of r2etl_core.parse's parsers (same messages as the GUI)."""
    def convert(text: str):
        try:
            return parse(text)
        except InputError as exc:
            raise argparse.ArgumentTypeError(exc.problem) from None
    convert.__name__ = parse.__name__
    return convert


def _host_port_spec(text: str) -> str:
    parse_host_port(text)
    return text.strip()


def _seconds(text: str) -> float:
    return check_number("--quit-after", text, 0.1, 86_400, "seconds")


def _stall_seconds(text: str) -> float:
    return check_number("--stall-s", text, 0.1, 86_400, "seconds")


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog=PROG, description=DESCRIPTION,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group()
    src.add_argument("recording", nargs="?", metavar="RECORDING",
                     help="event file (.aedat4, .raw, .dat, .es, .csv, .h5, jAER .aedat; N-MNIST .bin) or a "
                          "folder of N-MNIST .bin samples "
                          "(default: the demo recording)")
    src.add_argument("--camera", nargs="?", const="", metavar="SERIAL",
                     help="stream from an attached event camera (the first one, or SERIAL)")
    src.add_argument("--connect", type=_argtype(_host_port_spec), metavar="HOST:PORT",
                     help="receive a network event stream, e.g. from DV software's TCP output")
    p.add_argument("--stall-s", type=_argtype(_stall_seconds), metavar="S",
                   help="with --connect: report the stream as lost after S seconds without data "
                        f"(default: {DEFAULT_STALL_S:g})")
    p.add_argument("--model", metavar="PATH",
                   help="trained .safetensors model (default: the bundled N-MNIST model)")
    p.add_argument("--speed", type=_argtype(parse_speed), default=1.0, metavar="X",
                   help=f"replay speed for files, {SPEED_MIN:g} .. {SPEED_MAX:g}, or 'max' for as fast as the model "
                        "runs (default: 1, real time)")
    p.add_argument("--loop", action="store_true", help="replay the file again when it ends")
    p.add_argument("--screenshot", metavar="PNG",
                   help="save a picture of the window after --quit-after seconds, then exit")
    p.add_argument("--stats-json", metavar="PATH",
                   help="when the viewer closes, write the engine's final statistics (latency "
                        "percentiles, dropped slices, device) to this JSON file")
    p.add_argument("--force", action="store_true",
                   help="let --screenshot / --stats-json replace a file that is not an earlier "
                        "one of theirs (never the recording, its labels or the model)")
    p.add_argument("--quit-after", type=_argtype(_seconds), metavar="SECONDS",
                   help="close the viewer after this many seconds "
                        f"(default with --screenshot: {DEFAULT_SCREENSHOT_S:g})")
    return p


def input_spec(args: argparse.Namespace) -> str | None:
    if args.camera is not None:
        return f"camera:{args.camera}" if args.camera else "camera"
    return args.connect or args.recording


def display_problem(args: argparse.Namespace) -> str | None:
    """The one-line error when Qt would abort for lack of a display (Linux only)."""
    env = os.environ
    if not sys.platform.startswith("linux") or env.get("QT_QPA_PLATFORM"):
        return None
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    if args.screenshot:
        env["QT_QPA_PLATFORM"] = "offscreen"  # a scripted screenshot needs no screen
        return None
    return NO_DISPLAY


def _files_read(args: argparse.Namespace) -> tuple:
    """The files the viewer reads (recording, its labels sidecar, model): no output may name one."""
    from r2etl_core.io.labels import SUFFIX
    from r2etl_core.io.modelfile import DEFAULT_MODEL_PATH

    model = args.model or DEFAULT_MODEL_PATH
    if args.camera is not None or args.connect or not args.recording:
        return (model,)
    path = Path(args.recording)
    sidecar = path.with_name(path.name[: -len(path.suffix)] + SUFFIX) if path.suffix else None
    return (path, sidecar, model)


def screenshot_problem(args: argparse.Namespace) -> str | None:
    """Why ``--screenshot`` or ``--stats-json`` cannot be written, found now rather than after
    the whole run (and before either could overwrite the recording or the model it reads)."""
    outputs = [(flag, value, what, kind) for flag, value, what, kind in (
        ("--screenshot", args.screenshot, "screenshot", "image"),
        ("--stats-json", args.stats_json, "statistics file", "json")) if value]
    for flag, value, what, kind in outputs:
        try:
            path = check_output_path(value, what, inputs=_files_read(args), kind=kind, force=args.force)
        except InputError as exc:
            return f"{PROG}: error: {flag} {exc}"
        if flag == "--screenshot" and not path.suffix:  # Qt picks the image format by it
            return f"{PROG}: error: --screenshot {path}: add an image extension, e.g. .png"
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    problem = screenshot_problem(args) or display_problem(args)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    from app.startup import run_viewer

    try:
        return run_viewer(args, input_spec(args))
    except KeyboardInterrupt:  # Ctrl+C before the window is up (e.g. waiting for a stream)
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

