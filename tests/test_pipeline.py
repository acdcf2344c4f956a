"""One pipeline: the CLI and the viewer's session stream the same input identically."""

import json
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from conftest import PROJECT_RECORDINGS  # noqa: E402

from r2etl_core.stream.classify import ClassifyRequest, JsonlPredictionWriter, classify_input  # noqa: E402
from r2etl_core.stream.pipeline import LoadedModel, load_model_file, open_input  # noqa: E402
from r2etl_core.stream.settings import StreamSettings  # noqa: E402
from r2etl_core.types import ResetPolicy, SliceByTime  # noqa: E402

RECORDING = PROJECT_RECORDINGS / "davis346-lab-frames.aedat4"
COMPARED = ("index", "t_start_us", "t_end_us", "events", "label", "probabilities", "step_in_window",
            "reset_before")


def comparable(path):
    return [{k: row[k] for k in COMPARED} for row in map(json.loads, path.read_text().splitlines())]


def test_cli_and_viewer_session_give_identical_predictions(qtbot, tmp_path):
    from app.session import Session

    settings = StreamSettings(slicing=SliceByTime(5_000), reset=ResetPolicy("window", window_slices=4))
    cli_out = tmp_path / "cli.jsonl"
    summary = classify_input(ClassifyRequest(str(RECORDING), out=cli_out, settings=settings))
    assert summary["slices"] > 20

    session = Session()
    session.speed = None  # "max": an unpaced replay waits for the model, nothing is dropped
    session.install_model(load_model_file())
    session.settings = settings
    viewer_out = tmp_path / "viewer.jsonl"
    writer = JsonlPredictionWriter(viewer_out)
    session.engine.add_sink(writer)
    session.start_input(session.open_input(str(RECORDING)))
    qtbot.waitUntil(lambda: not session.engine.stats().running, timeout=60_000)
    assert session.engine.stats().dropped == 0
    session.close()
    writer.commit()

    cli, viewer = comparable(cli_out), comparable(viewer_out)
    assert len(cli) == summary["slices"] and cli == viewer


def test_open_input_reads_the_sidecar_or_the_sources_own_truth(tmp_path):
    demo = open_input(str(PROJECT_RECORDINGS / "nmnist-demo.aedat4"), speed=None)
    demo.source.close()
    assert demo.segments and all(s.end_us > s.start_us for s in demo.segments)
    bare = open_input(str(RECORDING), speed=None)
    bare.source.close()
    assert bare.segments == ()


def test_a_broken_sidecar_is_an_error_for_the_cli_and_a_warning_for_the_viewer(tmp_path):
    import shutil

    import pytest

    from r2etl_core.errors import InputError

    rec = tmp_path / "take.aedat4"
    shutil.copy(RECORDING, rec)
    (tmp_path / "take.labels.csv").write_text("not,a,header\n")
    with pytest.raises(InputError, match="header"):
        open_input(str(rec), speed=None)
    opened = open_input(str(rec), speed=None, strict_labels=False)
    opened.source.close()
    assert opened.warning.startswith("labels ignored:") and opened.segments == ()


def test_loaded_model_is_the_shipped_one_by_default():
    model = load_model_file()
    assert isinstance(model, LoadedModel) and model.path.name == "nmnist-r2etl-live-tuned.safetensors"


def test_model_process_gives_the_same_predictions_as_in_process():
    """The viewer steps the network in a child process; same numbers as in-process."""
    from dataclasses import replace

    from r2etl_core.stream.settings import OFFLINE
    from r2etl_core.stream.pipeline import build_pipeline

    model = load_model_file()
    settings = StreamSettings(slicing=SliceByTime(5_000))
    runs = []
    for remote in (False, True):
        config = replace(OFFLINE, frames=True, model_process=remote)
        engine = build_pipeline(open_input(str(RECORDING), speed=None), model, settings, config)
        assert engine.wait(120)
        runs.append([o for o in engine.take_outputs()])
        label = engine.stats().device
        engine.close()
    local, remote = runs
    assert "own process" in label
    assert len(local) == len(remote) > 20
    assert [o.prediction.probabilities for o in local] == [o.prediction.probabilities for o in remote]
    assert all((a.sensor_frame == b.sensor_frame).all() and (a.model_frame == b.model_frame).all()
               for a, b in zip(local, remote))
