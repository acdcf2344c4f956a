"""Build a corpus of bad inputs, and the command lines that must refuse each one cleanly.

    python scripts/make_bad_inputs.py OUT_DIR            build the corpus, list the cases
    python scripts/make_bad_inputs.py OUT_DIR --run      ... and run every case through the CLI

Why: the promise of docs/reliability.md is that a bad file, folder or flag gives exit code 2
and ONE line on stderr naming it, never a traceback and never a hang. Each file here breaks
that promise in a way that once happened (or easily could): truncated, empty and random-bytes
files, a pipe, a folder named like a file, model files whose metadata is a JSON list, asks for
a 100000-pixel input or holds NaN weights, labels sidecars with a 200,000-character field,
TOML configs with impossible values. Everything is generated (tiny, seconds), so nothing large
lives in git. tests/test_bad_inputs.py runs every case in CASES through the real CLI.

A case is (name, argv, named): argv is passed to ``python -m r2etl_core.cli.main`` after
``{c}`` is replaced by the corpus folder and ``{shared}`` by ../shared/data; ``named`` is the
text the one error line must contain (the file or flag at fault).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if not __package__:  # run as a file, not with -m: import this checkout's packages
    sys.path.insert(0, str(REPO))

H = "start_us,end_us,label\n"


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]
    named: str  # the file or flag the error line must name
    needs: str = ""  # "shared": needs ../shared/data; "no-cuda": meaningless where CUDA exists
    spawn: bool = True  # False: the test runs it in-process (a spawned sibling already covers
    #                     its path through the entry point, and each spawn that loads torch costs ~3 s)
    reason: str = ""  # where the reason matters too: text the line must also contain
    known_gap: str = ""  # not fixed yet, and why (the test expects it to fail until it is)

    def command(self, corpus: Path, shared: Path) -> list[str]:
        return [a.format(c=corpus, shared=shared) for a in self.argv]


def _case(name: str, argv: str, named: str, needs: str = "", spawn: bool = True, reason: str = "",
          known_gap: str = "") -> Case:
    return Case(name, tuple(argv.split()), named, needs, spawn, reason, known_gap)


PIPE = "not a regular file"  # a FIFO must be named as such: reading it would block forever


CASES: list[Case] = [
    # event files
    _case("bin-empty", "info {c}/empty.bin", "empty.bin", spawn=False),
    _case("bin-truncated", "info {c}/truncated.bin", "truncated.bin"),
    _case("bin-random", "info {c}/random.bin", "random.bin", spawn=False),
    _case("bin-fifo", "info {c}/fifo.bin", "fifo.bin", reason=PIPE),
    _case("aedat4-folder", "info {c}/folder.aedat4", "folder.aedat4"),
    _case("aedat4-random", "info {c}/random.aedat4", "random.aedat4", spawn=False),
    _case("aedat4-zeros", "info {c}/zeros.aedat4", "zeros.aedat4", spawn=False),
    _case("aedat4-truncated", "info {c}/truncated.aedat4", "truncated.aedat4"),
    _case("classify-fifo", "classify {c}/fifo.bin", "fifo.bin"),
    _case("classify-fifo-aedat4", "classify {c}/fifo.aedat4", "fifo.aedat4", spawn=False, reason=PIPE),
    _case("classify-aedat2", "classify {shared}/recordings/aedat2-header-only.aedat", "aedat2-header-only", "shared"),
    # outputs: never over an input of the run, a device, a pipe, or another file without --force
    _case("classify-out-is-input", "classify {c}/good.aedat4 --out {c}/good.aedat4 --force", "good.aedat4",
          reason="is an input of this run"),
    _case("classify-out-is-labels", "classify {c}/labels/overlap.aedat4 --out {c}/labels/overlap.labels.csv",
          "overlap.labels.csv", spawn=False, reason="is an input of this run"),
    _case("classify-out-device", "classify {c}/good.aedat4 --out /dev/full", "/dev/full", spawn=False,
          reason="not a regular file"),
    _case("classify-out-fifo", "classify {c}/good.aedat4 --out {c}/fifo.bin", "fifo.bin", spawn=False,
          reason="not a regular file"),
    _case("classify-out-other-file", "classify {c}/good.aedat4 --out {c}/a-file", "a-file", spawn=False,
          reason="--force"),
    _case("classify-folder-aedat4", "classify {c}/folder.aedat4", "folder.aedat4", spawn=False, reason="is a folder"),
    _case("classify-host-port-not-a-port", "classify 127.0.0.1:abc", "127.0.0.1:abc", spawn=False,
          reason="HOST:PORT"),
    _case("recover-nothing-there", "recover {c}/good.aedat4", "good.part.aedat4", spawn=False, reason="not found"),
    # the other event formats (issue 20): refused formats, damaged and lying files
    _case("raw-evt21", "info {c}/formats/evt21.raw", "evt21.raw", reason="EVT 2.1"),
    _case("raw-random", "info {c}/formats/random.raw", "random.raw", spawn=False),
    _case("raw-outside-sensor", "info {c}/formats/outside.raw", "outside.raw", spawn=False),
    _case("raw-evt3-outside-sensor", "info {c}/formats/outside3.raw", "outside3.raw", spawn=False),
    _case("dat-random", "info {c}/formats/random.dat", "random.dat", spawn=False),
    _case("dat-header-only", "info {c}/formats/header-only.dat", "header-only.dat", spawn=False),
    _case("dat-outside-sensor", "info {c}/formats/outside.dat", "outside.dat", spawn=False),
    _case("es-random", "info {c}/formats/random.es", "random.es", spawn=False),
    _case("es-outside-sensor", "classify {c}/formats/outside.es", "outside.es"),
    _case("csv-binary", "info {c}/formats/binary.csv", "binary.csv", spawn=False),
    _case("csv-cut-row", "info {c}/formats/cut-row.csv", "cut-row.csv", spawn=False),
    _case("csv-fifo", "info {c}/formats/fifo.csv", "fifo.csv", spawn=False, reason=PIPE),
    _case("h5-truncated", "info {c}/formats/truncated.h5", "truncated.h5", spawn=False),
    _case("h5-no-events", "info {c}/formats/no-events.h5", "no-events.h5", spawn=False),
    _case("h5-unsorted", "info {c}/formats/unsorted.h5", "unsorted.h5", spawn=False, reason="backwards"),
    _case("aedat2-truncated", "info {c}/formats/truncated.aedat", "truncated.aedat", spawn=False),
    _case("aedat31-truncated", "classify {c}/formats/truncated31.aedat", "truncated31.aedat", spawn=False),
    _case("aedat30", "info {c}/formats/v30.aedat", "v30.aedat", spawn=False, reason="AEDAT 3.0"),
    # model files
    _case("model-empty", "info {c}/models/empty.safetensors", "empty.safetensors", spawn=False),
    _case("model-random", "info {c}/models/random.safetensors", "random.safetensors", spawn=False),
    _case("model-truncated", "info {c}/models/truncated.safetensors", "truncated.safetensors"),
    _case("model-fifo", "info {c}/models/fifo.safetensors", "fifo.safetensors", spawn=False, reason=PIPE),
    _case("model-meta-list", "info {c}/models/meta-list.safetensors", "meta-list.safetensors"),
    _case("model-meta-not-json", "info {c}/models/meta-not-json.safetensors", "meta-not-json.safetensors",
          spawn=False),
    _case("model-version-text", "info {c}/models/version-text.safetensors", "version-text.safetensors"),
    _case("model-huge-input", "info {c}/models/huge-input.safetensors", "huge-input.safetensors"),
    _case("model-negative-slice", "info {c}/models/negative-slice.safetensors", "negative-slice.safetensors"),
    _case("model-zero-count", "info {c}/models/zero-count.safetensors", "zero-count.safetensors"),
    _case("model-nan", "info {c}/models/nan.safetensors", "nan.safetensors"),
    _case("model-inf", "info {c}/models/inf.safetensors", "inf.safetensors", spawn=False),
    _case("model-absurd", "info {c}/models/absurd.safetensors", "absurd.safetensors", spawn=False,
          reason="beyond 1e+06"),
    _case("classify-model-nan", "classify {c}/good.bin --model {c}/models/nan.safetensors", "nan.safetensors",
          spawn=False),
    _case("eval-model-huge", "eval --data nmnist:{c}/nmnist --model {c}/models/huge-input.safetensors",
          "huge-input.safetensors", spawn=False),
    # labels sidecars (read by info on the recording beside them)
    _case("labels-huge-field", "info {c}/labels/huge-field.aedat4", "huge-field.labels.csv"),
    _case("labels-huge-quoted-field", "info {c}/labels/huge-quoted.aedat4", "huge-quoted.labels.csv", spawn=False),
    _case("labels-bad-row", "info {c}/labels/bad-row.aedat4", "bad-row.labels.csv"),
    _case("labels-binary", "info {c}/labels/binary.aedat4", "binary.labels.csv", spawn=False),
    _case("labels-overlap", "info {c}/labels/overlap.aedat4", "overlap.labels.csv", spawn=False),
    # training configs and flags
    _case("config-syntax", "train --config {c}/configs/syntax.toml", "syntax.toml"),
    _case("config-binary", "train --config {c}/configs/binary.toml", "binary.toml"),
    _case("config-fifo", "train --config {c}/configs/fifo.toml", "fifo.toml", reason=PIPE),
    _case("config-folder", "train --config {c}/configs", "configs"),
    _case("config-unknown-key", "train --config {c}/configs/unknown-key.toml", "unknown-key.toml"),
    _case("config-wrong-type", "train --config {c}/configs/wrong-type.toml", "wrong-type.toml"),
    _case("config-table-is-list", "train --config {c}/configs/table-is-list.toml", "table-is-list.toml"),
    _case("config-zero-time-steps", "train --config {c}/configs/zero-time-steps.toml", "data.time_steps"),
    _case("config-huge-number", "train --config {c}/configs/huge-number.toml", "huge-number.toml"),
    _case("config-nested-deep", "train --config {c}/configs/nested-deep.toml", "nested-deep.toml", spawn=False,
          reason="nested too deeply"),
    _case("train-slice-zero", "train --set data.slice_us=0", "data.slice_us"),
    _case("train-time-steps-zero", "train --set data.time_steps=0", "data.time_steps"),
    _case("train-input-size-zero", "train --set data.input_size=0", "data.input_size"),
    _case("train-frame-mode", "train --set data.frame_mode=\"sideways\"", "data.frame_mode"),
    _case("train-negative-lr", "train --lr -1", "--lr"),
    _case("train-nan-lr", "train --lr nan", "--lr"),
    _case("train-negative-width", "train --width -1", "--width"),
    _case("train-negative-steps", "train --steps -1", "--steps"),
    _case("train-steps-not-a-number", "train --steps many", "--steps"),
    _case("train-bad-override", "train --set optim", "optim"),
    _case("train-unknown-override-key", "train --set optim.foo=1", "--set optim.foo", spawn=False,
          reason="unknown config key"),
    _case("train-unknown-device", "train --device foo", "--device"),
    _case("train-cuda-missing", "train --device cuda", "--device", "no-cuda"),
    _case("train-amp-on-cpu", "train --set run.amp=\"on\" --device cpu", "run.amp"),
    _case("train-out-is-file", "train --out {c}/a-file", "a-file"),
    _case("train-cache-is-file", "train --set data.cache_dir=\"{c}/a-file\"", "a-file"),
    # eval flags and folders
    _case("eval-batch-zero", "eval --data nmnist:{c}/nmnist --batch-size 0", "--batch-size"),
    _case("eval-batch-negative", "eval --data nmnist:{c}/nmnist --batch-size -1", "--batch-size"),
    _case("eval-cache-is-file", "eval --data nmnist:{c}/nmnist --cache-dir {c}/a-file", "a-file"),
    _case("eval-png-missing-folder", "eval --data nmnist:{c}/nmnist --confusion-png {c}/no-such/c.png", "c.png"),
    _case("eval-unknown-device", "eval --data nmnist:{c}/nmnist --device foo", "--device"),
    _case("eval-cuda-missing", "eval --data nmnist:{c}/nmnist --device cuda", "--device", "no-cuda", spawn=False),
    _case("eval-data-no-kind", "eval --data {c}/nmnist", "nmnist"),
    _case("eval-data-is-file", "eval --data nmnist:{c}/a-file", "a-file"),
    _case("eval-data-empty-folder", "eval --data nmnist:{c}/empty-folder", "empty-folder"),
    _case("eval-data-bad-sample", "eval --data nmnist:{c}/nmnist-bad", "00001.bin"),
]


def _write_recording(path: Path) -> None:
    """A tiny valid .aedat4 (34x34, 200 events): the base for sidecar and truncation cases."""
    from r2etl_core.io.dv import AedatWriter
    from scripts.synthetic_events import random_events

    writer = AedatWriter(path, 34, 34)
    writer.write(random_events(200, duration_us=50_000, t0_us=1_000_000, seed=1))
    writer.close()


def _event_files(c: Path, rng: np.random.Generator) -> None:
    from r2etl_core.io.nmnist import write_bin
    from scripts.synthetic_events import random_events

    (c / "empty.bin").write_bytes(b"")
    (c / "truncated.bin").write_bytes(bytes(7))
    (c / "random.bin").write_bytes(rng.bytes(500))
    write_bin(c / "good.bin", random_events(300, seed=2))
    (c / "folder.aedat4").mkdir()
    (c / "random.aedat4").write_bytes(rng.bytes(4000))
    (c / "zeros.aedat4").write_bytes(bytes(4096))
    _write_recording(c / "good.aedat4")
    raw = (c / "good.aedat4").read_bytes()
    (c / "truncated.aedat4").write_bytes(raw[: len(raw) // 2])
    (c / "a-file").write_text("a plain file where a folder is expected\n")
    (c / "empty-folder").mkdir()
    for digit in range(10):
        for folder in ("nmnist", "nmnist-bad"):
            (c / folder / str(digit)).mkdir(parents=True)
            write_bin(c / folder / str(digit) / "00001.bin", random_events(50, seed=digit))
    (c / "nmnist-bad" / "3" / "00001.bin").write_bytes(bytes(12))  # not a multiple of 5 bytes


def _other_formats(c: Path, rng: np.random.Generator) -> None:
    """Files of the formats read since issue 20 (io/eventfiles): a good file of each, then
    damaged copies and files whose header lies about the sensor (events beyond its size)."""
    from r2etl_core.io.eventfiles import synthetic as syn
    from scripts.synthetic_events import random_events
    from r2etl_core.types import EventBatch

    f = c / "formats"
    f.mkdir()
    ev = random_events(400, width=346, height=260, duration_us=100_000, t0_us=1_000, seed=4)
    small = EventBatch(ev.t, ev.x, ev.y, ev.p, 20, 20)  # a header stating 20x20, events up to 345x259
    (f / "evt21.raw").write_bytes(b"% evt 2.1\n% format EVT21;height=720;width=1280\n% end\n" + rng.bytes(800))
    (f / "outside.raw").write_bytes(syn.encode_evt2(small))
    (f / "outside3.raw").write_bytes(syn.encode_evt3(small))
    (f / "outside.dat").write_bytes(syn.encode_dat(small))
    (f / "header-only.dat").write_bytes(syn.encode_dat(ev)[:60])
    (f / "outside.es").write_bytes(syn.encode_es(EventBatch(ev.t, ev.x, ev.y, ev.p, 20, 260)))  # ES rows count up
    for suffix in (".raw", ".dat", ".es"):
        (f / f"random{suffix}").write_bytes(rng.bytes(3000))
    (f / "binary.csv").write_bytes(b"\xff\xfe\x00" + rng.bytes(500))
    (f / "cut-row.csv").write_bytes(syn.encode_csv(ev)[:-7])
    h5 = syn.write_hdf5(f / "good.h5", ev).read_bytes()
    (f / "truncated.h5").write_bytes(h5[: len(h5) // 2])
    syn.write_hdf5(f / "unsorted.h5", EventBatch(ev.t[::-1].copy(), ev.x, ev.y, ev.p, 346, 260), "table")
    import h5py

    with h5py.File(f / "no-events.h5", "w") as h:
        h.create_dataset("images", data=np.zeros((2, 4, 4)))
    (f / "truncated.aedat").write_bytes(syn.encode_aedat2(ev)[:-3])
    (f / "truncated31.aedat").write_bytes(syn.encode_aedat31(ev)[:-5])
    (f / "v30.aedat").write_bytes(b"#!AER-DAT3.0\r\n" + rng.bytes(200))


def _models(c: Path, rng: np.random.Generator) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    from r2etl_core.io.modelfile import METADATA_KEY, save_model

    from r2etl_core.nn.meta import ModelMeta
    from r2etl_core.nn.model import ModelConfig, build_model

    m = c / "models"
    m.mkdir()
    torch.manual_seed(0)
    model = build_model(ModelConfig(width=0.0625))
    meta = ModelMeta(model.config, tuple(str(i) for i in range(10)))
    good = save_model(model, meta, m / "good.safetensors")
    tensors, d = load_file(str(good)), json.loads(meta.to_json())

    def variant(name: str, header: str, weights: dict | None = None) -> None:
        save_file(weights or tensors, str(m / f"{name}.safetensors"), metadata={METADATA_KEY: header})

    variant("meta-list", json.dumps([d]))
    variant("meta-not-json", "{'model': ")
    variant("version-text", json.dumps({**d, "format_version": "one"}))
    variant("huge-input", json.dumps({**d, "model": {**d["model"], "input_size": 100_000}}))
    variant("negative-slice", json.dumps({**d, "slicing": {**d["slicing"], "slice_us": -30_000}}))
    variant("zero-count", json.dumps({**d, "slicing": {**d["slicing"], "mode": "count", "events_per_slice": 0}}))
    for name, value in (("nan", float("nan")), ("inf", float("inf"))):
        bad = {k: v.clone() for k, v in tensors.items()}
        bad["fc1.weight"].view(-1)[7] = value
        variant(name, json.dumps(d), bad)
    variant("absurd", json.dumps(d), {k: v * 1e37 if v.is_floating_point() else v for k, v in tensors.items()})
    (m / "empty.safetensors").write_bytes(b"")
    (m / "random.safetensors").write_bytes(rng.bytes(3000))
    raw = good.read_bytes()
    (m / "truncated.safetensors").write_bytes(raw[: len(raw) // 2])


def _labels(c: Path, rng: np.random.Generator) -> None:
    folder = c / "labels"
    folder.mkdir()
    sidecars = {
        "huge-field": H + "1000000,1010000,3\n1010000,1020000," + "x" * 200_000 + "\n",
        "huge-quoted": H + '1000000,1010000,"' + "x" * 200_000 + '"\n',
        "bad-row": H + "1000000,1010000,3\n1010000,1020000\n",
        "overlap": H + "1000000,1020000,3\n1010000,1030000,4\n",
    }
    for name, text in {**sidecars, "binary": None}.items():
        shutil.copyfile(c / "good.aedat4", folder / f"{name}.aedat4")
        sidecar = folder / f"{name}.labels.csv"
        if text is None:
            sidecar.write_bytes(b"\xff\xfe" + rng.bytes(300))  # not UTF-8
        else:
            sidecar.write_text(text)


def _configs(c: Path, rng: np.random.Generator) -> None:
    folder = c / "configs"
    folder.mkdir()
    texts = {
        "syntax": "[data\ntime_steps = 10\n",
        "unknown-key": "[optim]\nlearning_rate = 1e-3\n",
        "wrong-type": "[data]\ntime_steps = \"ten\"\n",
        "table-is-list": "data = [1, 2]\n",
        "zero-time-steps": "[data]\ntime_steps = 0\n",
        "huge-number": "[optim]\nsteps = " + "9" * 5000 + "\n",
        "nested-deep": "[data]\nroi = " + "[" * 5000 + "]" * 5000 + "\n",
    }
    for name, text in texts.items():
        (folder / f"{name}.toml").write_text(text)
    (folder / "binary.toml").write_bytes(b"\xff\xfe\x00" + rng.bytes(200))


def build_corpus(out: str | Path) -> Path:
    """Write every bad input into ``out`` (emptied first); returns ``out``."""
    c = Path(out)
    if c.exists():
        shutil.rmtree(c)
    c.mkdir(parents=True)
    rng = np.random.default_rng(20240601)
    _event_files(c, rng)
    _other_formats(c, rng)
    _models(c, rng)
    _labels(c, rng)
    _configs(c, rng)
    for fifo in ("fifo.bin", "fifo.aedat4", "formats/fifo.csv", "models/fifo.safetensors", "configs/fifo.toml"):
        os.mkfifo(c / fifo)
    return c


def run_case(case: Case, corpus: Path, shared: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """``case`` through the real CLI, in its own process, from a scratch folder (train runs
    that got past their checks would write runs/ there, not into the checkout)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    cwd = corpus / "cwd"
    cwd.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-m", "r2etl_core.cli.main", *case.command(corpus, shared)],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="folder to (re)create with the corpus")
    parser.add_argument("--run", action="store_true", help="also run every case and report each")
    args = parser.parse_args()
    corpus = build_corpus(args.out)
    shared = REPO.parent / "shared" / "data"
    failed = 0
    for case in CASES:
        if not args.run:
            print(f"{case.name:28} r2etl {' '.join(case.command(corpus, shared))}")
            continue
        r = run_case(case, corpus, shared)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        ok = r.returncode == 2 and len(lines) == 1 and case.named in lines[0] and case.reason in lines[0]
        failed += not ok and not case.known_gap
        mark = "ok " if ok else "gap" if case.known_gap else "BAD"
        print(f"{mark} {case.name:28} rc={r.returncode} {lines[-1][:150] if lines else ''}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
