"""``r2etl``: the command-line front end. Subcommands live in their own modules and register here.

Exit codes: 0 success, 2 bad input (one line on stderr, no traceback), 1 unexpected failure.
"""

from __future__ import annotations

import argparse
import sys

from r2etl_core.errors import R2ETLError

DESCRIPTION = """\
r2etl: spiking neural networks for event cameras, trained with R2ETL
(RGB-image -> event-stream transfer learning).

common tasks:
  r2etl classify recordings/nmnist-demo.aedat4      classify a recording, slice by slice
  r2etl info FILE                                   what a recording or model file holds
  r2etl train --config shared-nmnist                train a model (images + events)
  r2etl eval --data nmnist:DIR --split val          accuracy of a model on N-MNIST folders
  r2etl bench                                       throughput and latency on this machine
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="r2etl", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from r2etl_core.cli import stream as cli_stream
    from r2etl_core.cli import train as cli_train

    cli_stream.register(sub)
    cli_train.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except R2ETLError as exc:
        print(f"r2etl {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"r2etl {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
