"""Event files of every format r2etl reads, behind one reader interface.

``open_event_file(path)`` picks the reader by the file's name and first bytes: ``.aedat4``
through dv-processing (``io.dv``), Prophesee ``.raw`` (EVT 2.0/3.0) and ``.dat``, Event Stream
``.es`` and ``.csv`` through faery (``faery_files``), ``.h5``/``.hdf5`` through h5py (``hdf5``),
jAER/cAER ``.aedat`` 2.0/3.1 with numpy (``jaer``). Every reader has ``info`` (path, camera,
width, height, t_first_us, t_last_us, event_count, duration_us), ``batches(start_us)``,
``read_all()`` and ``close()``; every problem is an ``InputError`` naming the file.
"""

from __future__ import annotations

from pathlib import Path

from r2etl_core.errors import InputError
from r2etl_core.io.files import check_input_file
from r2etl_core.types import EventBatch

# suffix -> what it is, for messages, file dialogs and folder scans
EVENT_FILE_FORMATS = {
    ".aedat4": "AEDAT 4", ".aedat": "jAER AEDAT 2.0/3.1", ".raw": "Prophesee RAW (EVT 2.0/3.0)",
    ".dat": "Prophesee DAT", ".es": "Event Stream", ".csv": "CSV (t,x,y,p)", ".h5": "HDF5",
    ".hdf5": "HDF5",
}
EVENT_FILE_SUFFIXES = tuple(EVENT_FILE_FORMATS)


def _aedat_reader(path: Path):
    """An ``.aedat`` file: jAER 2.0 or cAER 3.1 by its version line; AEDAT 4 must be renamed."""
    from r2etl_core.io.eventfiles import jaer

    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"#!AER-DAT2.0"):
        return jaer.Aedat2Reader(path)
    if head.startswith(b"#!AER-DAT3.1"):
        return jaer.Aedat31Reader(path)
    if head.startswith(b"#!AER-DAT4"):
        raise InputError(path, "an AEDAT 4 file named .aedat: rename it to .aedat4")
    if head.startswith(b"#!AER-DAT"):
        version = head[9:].split(b"\r")[0].split(b"\n")[0].decode("latin-1", "replace")
        raise InputError(path, f"AEDAT {version} is not supported (AEDAT 2.0, 3.1 and 4 are)")
    raise InputError(path, "not an AEDAT file (it does not start with '#!AER-DAT')")


def open_event_file(path: str | Path):
    """The reader of one event file; InputError naming the file when it cannot be read."""
    path = check_input_file(path, "event file")
    suffix = path.suffix.lower()
    if suffix == ".aedat4":
        from r2etl_core.io.dv import AedatReader

        return AedatReader(path)
    if suffix == ".aedat":
        return _aedat_reader(path)
    if suffix in (".raw", ".dat", ".es", ".csv"):
        from r2etl_core.io.eventfiles import faery_files

        reader = {".raw": faery_files.RawReader, ".dat": faery_files.DatReader,
                  ".es": faery_files.EsReader, ".csv": faery_files.CsvReader}[suffix]
        return reader(path)
    if suffix in (".h5", ".hdf5"):
        from r2etl_core.io.eventfiles.hdf5 import Hdf5Reader

        return Hdf5Reader(path)
    raise InputError(path, f"unknown event file type {suffix or '(no extension)'}: expected one of "
                           f"{', '.join(EVENT_FILE_SUFFIXES)}")


def is_event_file(path: str | Path) -> bool:
    """Whether ``path`` is named like an event file r2etl reads (labels sidecars are not)."""
    name = Path(path).name.lower()
    return Path(name).suffix in EVENT_FILE_FORMATS and not name.endswith(".labels.csv")


def event_file_info(path: str | Path):
    """The file's facts (``info`` of its reader)."""
    reader = open_event_file(path)
    reader.close()
    damage = getattr(reader, "damage", None)  # a damaged .aedat4 opens for the events before it
    if damage is not None:
        raise InputError(damage.where, damage.problem)
    return reader.info


def read_event_file(path: str | Path) -> EventBatch:
    """All events of a file in one batch (tests, tools, small files)."""
    reader = open_event_file(path)
    try:
        return reader.read_all()
    finally:
        reader.close()
