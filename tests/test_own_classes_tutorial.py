"""docs/own-classes.md, run as written: its commands, read from the page, on stand-in clips made
from N-MNIST validation samples (../shared) regrouped into three new classes.

Only the budget shrinks (a few steps, small batches, one thread); the viewer is replaced by
the pipeline it builds (load_model_file + build_pipeline, headless), and the frames the live
engine shows the model are checked against the training windows of the same recording."""

import json
import shlex
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from r2etl_core.cli import main as cli
from r2etl_core.io.modelfile import DEFAULT_MODEL_PATH
from r2etl_core.stream.settings import OFFLINE
from r2etl_core.stream.pipeline import build_pipeline, load_model_file, open_input
from r2etl_core.stream.settings import StreamSettings
from r2etl_core.train.datasets.recording_sets import eval_windows
from r2etl_core.train.datasets.recordings import scan_recordings

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
DOC = REPO / "docs" / "own-classes.md"
SHIPPED = "r2etl_core/models/nmnist-r2etl.safetensors"
FAST = ["--batch-size", "8", "--set", "run.threads=1", "--no-progress", "--set", 'data.cache_dir="cache"']


def doc_commands() -> list[list[str]]:
    """The shell commands of the page's ```sh blocks, continuation lines joined."""
    commands, block, inside = [], "", False
    for line in DOC.read_text().splitlines():
        if line.startswith("```"):
            inside = line.strip() == "```sh"
            continue
        if inside and line.strip():
            block += line.rstrip("\\").strip() + " "
            if not line.endswith("\\"):
                commands.append(shlex.split(block))
                block = ""
    return commands


@pytest.mark.shared
@pytest.mark.skipif(not (SHARED / "nmnist" / "Train").is_dir(), reason="needs ../shared/data beside the checkout")
def test_the_tutorial_runs_as_written(tmp_path, monkeypatch, capsys):
    from scripts.standin import GROUPS, write_tutorial_data

    write_tutorial_data(SHARED, tmp_path, clips_per_class=6, images_per_class=20)
    monkeypatch.chdir(tmp_path)
    commands = doc_commands()
    assert [c[:2] for c in commands] == [["r2etl-viewer", "--camera"], ["r2etl", "train"], ["r2etl", "eval"],
                                         ["r2etl", "classify"], ["r2etl-viewer", "--model"]]
    train, evaluate, classify = commands[1:4]
    train = [str(DEFAULT_MODEL_PATH) if a == SHIPPED else a for a in train]
    train[train.index("--steps") + 1] = "3"
    assert cli.main(train[1:] + FAST) == 0
    model_path = commands[4][commands[4].index("--model") + 1]
    assert Path(model_path).is_file() and (Path(model_path).parent / "curves.png").is_file()

    capsys.readouterr()
    assert cli.main(evaluate[1:] + ["--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result["class_names"]) == set(GROUPS) and result["n"] > 0
    assert cli.main(classify[1:] + ["--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["segments"] == 3 and summary["slices"] > 50

    # the viewer: its pipeline, headless, on the held-out take
    take = classify[2]
    model = load_model_file(model_path)
    engine = build_pipeline(open_input(take, speed=None), model, StreamSettings(), replace(OFFLINE, frames=True))
    try:
        assert engine.wait(60)
        outputs = engine.take_outputs()
    finally:
        engine.close()
    assert {o.prediction.top_label for o in outputs} <= set(GROUPS)
    seen = {o.prediction.t_start_us: o.model_frame for o in outputs}
    windows = eval_windows(scan_recordings(tmp_path).subset([take]), model.meta, model_path, "all", None)
    t, slice_us = model.meta.config.time_steps, model.meta.slicing.slice_us
    for path, frames in zip(windows.paths, windows.frames):
        start = int(path.rsplit("@", 1)[1])
        np.testing.assert_array_equal(frames, np.stack([seen[start + k * slice_us] for k in range(t)]))
