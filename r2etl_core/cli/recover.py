"""``r2etl recover FOLDER|FILE``: save what killed recordings left, wherever they were saved.

The viewer recovers its own recordings folder at start and any name it records to again; a
recording saved elsewhere (another folder, another machine's disk) needs this command.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from r2etl_core.errors import InputError

HELP = """\
Save what recordings killed mid-way left behind (<name>.part.aedat4, with its predictions and
labels): the readable events become <name>.recovered.aedat4, with the predictions they cover
and the labels clipped to them beside it; the leftovers are then removed. FOLDER recovers every
interrupted recording in it (not in sub-folders); FILE is the recording's name (<name>.aedat4)
or its .part.aedat4. Nothing is overwritten: an existing .recovered name gets -2, -3, ...

examples:
  r2etl recover recordings/
  r2etl recover /data/lab/session3.aedat4
"""

PART = ".part.aedat4"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recover", help="save what killed recordings left (.part.aedat4)",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="FOLDER|FILE", help="a folder, or a recording's name or .part file")
    p.set_defaults(func=cmd_recover)


def final_name(path: Path) -> Path:
    """``<stem>.aedat4`` for ``<stem>.part.aedat4`` (and for ``<stem>.aedat4`` itself)."""
    if path.name.endswith(PART):
        return path.with_name(path.name[: -len(PART)] + ".aedat4")
    if path.suffix.lower() != ".aedat4":
        raise InputError(path, "expected a folder, a recording (.aedat4) or its .part.aedat4")
    return path


def cmd_recover(args: argparse.Namespace) -> int:
    from r2etl_core.io.files import path_stat
    from r2etl_core.io.recovery import interrupted_in, recover_folder, recover_interrupted
    from r2etl_core.io.dv.writers import part_path_for

    target = Path(args.target)
    found = path_stat(target, "folder or recording")
    if found is not None and target.is_dir():
        if not interrupted_in(target):
            print(f"{target}: no interrupted recordings (*{PART}) here")
            return 0
        results = recover_folder(target)
        for result in results:
            print(result.message)
        return 2 if any("could not be recovered" in r.message for r in results) else 0
    path = final_name(target)
    if not part_path_for(path).exists():
        raise InputError(part_path_for(path), "not found: no interrupted recording of this name "
                                              "(a finished recording needs no recovery)")
    result = recover_interrupted(path)
    print(result.message if result is not None else f"{path}: nothing to recover")
    return 0
