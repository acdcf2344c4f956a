"""Training and eval on labelled recordings in the other formats (``--data aedat4:DIR`` takes
every readable event file with a labels sidecar): the windows are the very frames the same
recordings give as .aedat4, and train + eval run end to end from the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from r2etl_core.cli import main as cli
from r2etl_core.errors import InputError
from r2etl_core.io.eventfiles import read_event_file
from r2etl_core.io.eventfiles.synthetic import write_event_file, write_hdf5
from r2etl_core.io.modelfile import read_meta
from r2etl_core.train.datasets.recordings import scan_recordings
from r2etl_core.train.datasets.windows import WindowParams, load_windows
from scripts.synthetic_sets import write_labelled_recordings

CLASSES = ("left", "middle", "right")
# one format per recording: a mixed folder trains as one set (one sensor, one class list). Not
# .aedat: jAER files come from DVS128/DAVIS chips, whose sensor is not these clips' 34x34.
SUFFIXES = (".raw", ".h5", ".es", ".dat", ".csv")


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> tuple[Path, Path]:
    """The same labelled recordings as .aedat4 and converted, one format each."""
    root = tmp_path_factory.mktemp("formats")
    aedat4 = write_labelled_recordings(root / "aedat4", per_class=4, class_names=CLASSES, per_recording=2)
    other = root / "other"
    other.mkdir()
    for k, rec in enumerate(sorted(aedat4.glob("*.aedat4"))):
        target = other / (rec.stem + SUFFIXES[k % len(SUFFIXES)])
        events = read_event_file(rec)
        write_hdf5(target, events) if target.suffix == ".h5" else write_event_file(target, events)
        shutil.copyfile(rec.with_name(rec.stem + ".labels.csv"), other / (rec.stem + ".labels.csv"))
    return aedat4, other


def test_windows_of_every_format_equal_those_of_aedat4(clips):
    aedat4, other = clips
    found = scan_recordings(other)
    suffixes = [Path(r.rel).suffix for r in found.recordings]  # sidecars (.labels.csv) are no recordings
    assert len(suffixes) == len(list(clips[0].glob("*.aedat4"))) and set(suffixes) == set(SUFFIXES)
    params = WindowParams(time_steps=4, slice_us=30_000, stride_slices=2, out_size=34)
    expected = load_windows(scan_recordings(aedat4), params, cache_dir=None)
    got = load_windows(found, params, cache_dir=None)
    assert got.frames.shape == expected.frames.shape and len(got.frames) > 0
    np.testing.assert_array_equal(got.frames, expected.frames)
    np.testing.assert_array_equal(got.labels, expected.labels)


def test_train_and_eval_from_the_cli_on_other_formats(clips, tmp_path, capsys):
    _, other = clips
    out = tmp_path / "run"
    tiny = ["--set", "data.time_steps=4", "--set", "model.width=0.0625", "--set", "run.threads=1",
            "--batch-size", "8", "--set", 'optim.scheduler="none"']
    assert cli.main(["train", "--data", f"aedat4:{other}", "--mode", "events-only", "--steps", "2", "--out",
                     str(out), "--no-progress", "--set", f'data.cache_dir="{tmp_path / "cache"}"', *tiny]) == 0
    meta = read_meta(out / "best.safetensors")
    assert meta.class_names == CLASSES and meta.training["holdout"]
    capsys.readouterr()
    assert cli.main(["eval", "--data", f"aedat4:{other}", "--model", str(out / "best.safetensors"),
                     "--split", "val", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n"] == meta.metrics["val_n"] > 0


def test_csv_files_without_a_sidecar_are_not_recordings(clips, tmp_path):
    """A run's metrics.csv inside the data folder (the tutorial trains into clips/runs/) is
    skipped; an event file of another format without its sidecar is still named."""
    _, other = clips
    folder = tmp_path / "with-run"
    shutil.copytree(other, folder)
    (folder / "runs" / "mine").mkdir(parents=True)
    (folder / "runs" / "mine" / "metrics.csv").write_text("step,loss\n1,0.5\n")
    assert len(scan_recordings(folder).recordings) == len(scan_recordings(other).recordings)
    (folder / "runs" / "mine" / "stray.raw").write_bytes((other / "rec-000.raw").read_bytes())
    with pytest.raises(InputError, match="stray.raw: no labels sidecar stray.labels.csv"):
        scan_recordings(folder)


def test_a_damaged_recording_in_the_folder_is_named(clips, tmp_path):
    _, other = clips
    broken = tmp_path / "broken"
    shutil.copytree(other, broken)
    victim = sorted(broken.glob("*.raw"))[0]
    victim.write_bytes(b"% evt 2.1\n" + bytes(40))
    with pytest.raises(InputError, match=f"{victim.name}: EVT 2.1 .raw files are not supported"):
        scan_recordings(broken)
