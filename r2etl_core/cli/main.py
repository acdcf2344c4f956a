"""``r2etl``: the command-line front end. Subcommands live in their own modules and register here.

Exit codes: 0 success, 2 bad input (one line on stderr, no traceback), 1 unexpected failure.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from r2etl_core.errors import R2ETLError, R2ETLWarning

DESCRIPTION = """\
r2etl: spiking neural networks for event cameras, trained with R2ETL
(RGB-image -> event-stream transfer learning).

common tasks:
  r2etl classify recordings/nmnist-demo.aedat4      classify a recording, slice by slice
  r2etl info FILE                                   what a recording or model file holds
  r2etl train --config shared-nmnist                train a model (images + events)
  r2etl eval --data nmnist:DIR --split val          accuracy of a model on N-MNIST folders
  r2etl calibrate MODEL                             teach a model to say "unknown" to other things
  r2etl bench                                       throughput and latency on this machine
  r2etl recover FOLDER                              save what killed recordings left there
  r2etl export MODEL --nir OUT.nir                  the network as a NIR graph, verified
  r2etl doctor                                      is this machine ready for a demo?
"""


TRAIN_COMMANDS = ("train", "eval")


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad flag like every other bad input: one line, exit 2 (the
    stock parser prints the whole usage block first)."""

    def error(self, message: str) -> NoReturn:
        text = " ".join(message.split())
        self.exit(2, f"{self.prog}: error: {text} (see {self.prog} --help)\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; ``command`` (the subcommand about to run) lets train and eval skip the stream
    commands, whose module imports torch on load: a bad flag or config then fails in a blink."""
    parser = OneLineParser(prog="r2etl", description=DESCRIPTION,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from r2etl_core.cli import calibrate as cli_calibrate
    from r2etl_core.cli import recover as cli_recover
    from r2etl_core.cli import train as cli_train

    if command not in TRAIN_COMMANDS:
        from r2etl_core.cli import stream as cli_stream

        cli_stream.register(sub)
    cli_train.register(sub)
    cli_recover.register(sub)
    cli_calibrate.register(sub)
    from r2etl_core.cli import doctor as cli_doctor, export as cli_export

    cli_export.register(sub)
    cli_doctor.register(sub)
    return parser


def _command(argv: list[str]) -> str | None:
    """The subcommand named on the command line (the first word that is not a flag)."""
    return next((a for a in argv if not a.startswith("-")), None)


def show_warnings_as_lines(command: str) -> None:
    """r2etl's own warnings as one line each, like its errors (other libraries' keep their form)."""
    import warnings

    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, R2ETLWarning):
            print(f"r2etl {command}: warning: {' '.join(str(message).split())}", file=sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def interrupted_at_start(command: str | None, argv: list[str]) -> int:
    """Ctrl+C while the commands load (importing torch takes seconds): ``classify`` still ends
    with its summary (as when interrupted later), the others with one line."""
    if command != "classify":
        print(f"r2etl {command or ''}: interrupted".replace("  ", " "), file=sys.stderr)
        return 130
    rest = argv[argv.index("classify") + 1:]
    summary = {"input": rest[0] if rest and not rest[0].startswith("-") else "?", "slices": 0, "events": 0,
               "interrupted": True, "input_lost": "interrupted while r2etl was starting"}
    if "--json" in argv:
        import json

        print(json.dumps(summary))
    else:
        print("\n".join(f"{key:>11}: {value}" for key, value in summary.items()))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        parser = build_parser(_command(argv))
    except KeyboardInterrupt:
        return interrupted_at_start(_command(argv), argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    show_warnings_as_lines(args.command)
    try:
        return int(args.func(args) or 0)
    except R2ETLError as exc:
        message = " ".join(str(exc).splitlines())  # one line, whatever a library put in it
        print(f"r2etl {args.command}: error: {message}", file=sys.stderr)
        return 2
    except PermissionError as exc:  # a path below one the checks saw (a folder without x permission)
        print(f"r2etl {args.command}: error: {exc.filename or 'a file'}: permission denied", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"r2etl {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
