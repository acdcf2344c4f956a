"""Reading speed of every event-file format against the same events in .aedat4 through
dv-processing, in the same run: events/s of a full read (open + every batch), best of N.

The events are the shared Prophesee EVT 2.0 recording (521,252 real events, 640x480) when
../shared/data is present, else 1M synthetic ones; they are written once in every format
(io.eventfiles.synthetic; .aedat4 with our dv writer), then each file is read the way the
viewer and ``r2etl classify`` read it (``io.eventfiles.open_event_file``: the non-aedat4
readers scan the file once at open for its facts, so a full read is two passes; a CSV whose
header states the size, and every .aedat4, skip that pass). The aedat4
baseline is read both as the project reads it (with the damaged-file guard) and unguarded.

python bench/bench_formats.py [--quick]
"""

import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as a file, not with -m: import this checkout's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_all import machine
from r2etl_core.io.dv import AedatReader, AedatWriter
from r2etl_core.io.eventfiles import open_event_file, read_event_file
from r2etl_core.io.eventfiles import synthetic as syn
from r2etl_core.types import EventBatch
from scripts.synthetic_events import random_events

REPO = Path(__file__).resolve().parents[1]
SHARED_RAW = REPO.parent / "shared" / "data" / "recordings" / "prophesee-evt2.raw"
TARGET = 0.5  # issue 20: read at >= 0.5x the speed of the same events from .aedat4


def source_events() -> tuple[str, EventBatch]:
    if SHARED_RAW.exists():
        ev = read_event_file(SHARED_RAW)
        t = ev.t - ev.t_first_us  # EVT 3.0 and AEDAT 2.0 files keep 24/31-bit times here
        return f"{SHARED_RAW.name} (real)", EventBatch(t, ev.x, ev.y, ev.p, ev.width, ev.height)
    parts = [random_events(100_000, 640, 480, duration_us=50_000, t0_us=k * 50_000, seed=k) for k in range(10)]
    return "1M synthetic", EventBatch.concat(parts, 640, 480)


def write_all(folder: Path, ev: EventBatch) -> dict[str, Path]:
    files = {name: folder / name for name in ("a.aedat4", "evt2.raw", "evt3.raw", "a.dat", "a.es", "a.csv",
                                              "sized.csv", "a.h5", "a.aedat")}
    with AedatWriter(files["a.aedat4"], ev.width, ev.height, "bench") as writer:
        for start in range(0, len(ev), 100_000):
            writer.write(ev.select(slice(start, start + 100_000)))
    files["evt2.raw"].write_bytes(syn.encode_evt2(ev))
    files["evt3.raw"].write_bytes(syn.encode_evt3(ev))
    files["a.dat"].write_bytes(syn.encode_dat(ev))
    files["a.es"].write_bytes(syn.encode_es(ev))
    files["a.csv"].write_bytes(syn.encode_csv(ev))  # t,x,y,p: the size is inferred by a scan at open
    sized = f"t,x@{ev.width},y@{ev.height},p\n".encode()  # faery's header: opens without a scan
    files["sized.csv"].write_bytes(sized + syn.encode_csv(ev, header=False))
    syn.write_hdf5(files["a.h5"], ev)
    files["a.aedat"].write_bytes(syn.encode_aedat31(ev, per_packet=4096, source="DVXplorer"))  # 640x480
    return files


def read_all(path: Path, guard: bool = True) -> int:
    reader = AedatReader(path, guard=guard) if path.suffix == ".aedat4" else open_event_file(path)
    try:
        return sum(len(b) for b in reader.batches())
    finally:
        reader.close()


def best_seconds(path: Path, repeat: int, guard: bool = True) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        read_all(path, guard)
        times.append(time.perf_counter() - t0)
    return min(times)


def main(repeat: int) -> None:
    print(f"machine: {machine()}")
    name, ev = source_events()
    print(f"events: {name}, {len(ev):,}, {ev.width}x{ev.height}, {ev.t_last_us - ev.t_first_us} us; "
          f"best of {repeat}")
    with tempfile.TemporaryDirectory() as tmp:
        files = write_all(Path(tmp), ev)
        base = best_seconds(files["a.aedat4"], repeat)
        unguarded = best_seconds(files["a.aedat4"], repeat, guard=False)
        print(f"{'a.aedat4 (dv-processing, guarded)':36s} {len(ev) / base / 1e6:7.2f} M ev/s  1.00x")
        print(f"{'a.aedat4 (dv-processing, unguarded)':36s} {len(ev) / unguarded / 1e6:7.2f} M ev/s "
              f"{base / unguarded:5.2f}x")
        for label, path in files.items():
            if label == "a.aedat4":
                continue
            assert read_all(path) == len(ev), label
            s = best_seconds(path, repeat)
            verdict = "ok" if base / s >= TARGET else f"BELOW {TARGET}x"
            print(f"{label:36s} {len(ev) / s / 1e6:7.2f} M ev/s {base / s:5.2f}x  {verdict}")


if __name__ == "__main__":
    main(3 if "--quick" in sys.argv[1:] else 5)
