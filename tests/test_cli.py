"""``r2etl classify`` / ``info``: results, JSON output, and one-line errors with exit code 2."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from r2etl_core.cli.main import main
from r2etl_core.io.modelfile import save_model
from r2etl_core.nn.meta import ModelMeta
from r2etl_core.io.nmnist import write_bin
from r2etl_core.nn.model import ModelConfig, build_model
from r2etl_core.nn.meta import SlicingSpec
from scripts.synthetic_events import random_events

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model(ModelConfig(width=0.125))
    path = tmp_path_factory.mktemp("m") / "tiny.safetensors"
    save_model(model, ModelMeta(model.config, tuple(str(i) for i in range(10)), SlicingSpec(slice_us=30_000)), path)
    return path


@pytest.fixture(scope="module")
def nmnist_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("nmnist")
    for cls in ("1", "7"):
        (root / cls).mkdir()
        for k in range(2):
            write_bin(root / cls / f"0000{k}.bin", random_events(800, duration_us=300_000, seed=k + int(cls)))
    return root


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_classify_json_summary_and_jsonl(capsys, tmp_path, model_file, nmnist_folder):
    out_file = tmp_path / "preds.jsonl"
    code, out, err = run_cli(capsys, "classify", nmnist_folder, "--model", model_file, "--out", out_file, "--json")
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    lines = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert summary["slices"] == len(lines) > 0
    assert summary["events"] == sum(line["events"] for line in lines) == 4 * 800
    assert summary["dropped"] == 0 and summary["events_per_s"] > 0
    # 4 labelled samples -> segment accuracy is a fraction of 4
    assert summary["segments"] == 4 and summary["segment_accuracy"] * 4 == summary["segments_correct"]
    assert [line["index"] for line in lines] == sorted(line["index"] for line in lines)
    assert abs(sum(lines[0]["probabilities"]) - 1) < 1e-3


def test_out_file_is_not_replaced_when_classify_fails(capsys, tmp_path, model_file):
    out_file = tmp_path / "preds.jsonl"
    out_file.write_text("good\n")
    bad = tmp_path / "bad.aedat4"
    bad.write_bytes(np.random.default_rng(0).bytes(5000))
    code, _, err = run_cli(capsys, "classify", bad, "--model", model_file, "--out", out_file)
    assert code == 2 and out_file.read_text() == "good\n"


def test_slice_length_flag(capsys, model_file, nmnist_folder):
    code, out, _ = run_cli(capsys, "classify", nmnist_folder, "--model", model_file, "--slice-us", "10000", "--json")
    assert code == 0 and json.loads(out.splitlines()[-1])["slice_us"] == 10000


def bad_inputs(tmp_path, shared=None):
    empty = tmp_path / "empty.aedat4"
    empty.write_bytes(b"")
    rnd = tmp_path / "random.aedat4"
    rnd.write_bytes(np.random.default_rng(1).bytes(20000))
    return {"missing": (tmp_path / "nope.aedat4", "not found"), "empty": (empty, "empty"),
            "random": (rnd, "random.aedat4"), "folder-without-bins": (tmp_path, "no .bin")}


@pytest.mark.parametrize("case", ["missing", "empty", "random", "folder-without-bins"])
def test_bad_recordings_give_one_line_and_exit_2(capsys, tmp_path, model_file, case):
    path, text = bad_inputs(tmp_path)[case]
    code, out, err = run_cli(capsys, "classify", path, "--model", model_file)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and text in err and "Traceback" not in err


def test_aedat2_is_named_unsupported(capsys, shared_data, model_file):
    header_only = shared_data / "recordings" / "aedat2-header-only.aedat"
    code, _, err = run_cli(capsys, "classify", header_only, "--model", model_file)
    assert code == 2 and "AEDAT 2.0" in err and len(err.strip().splitlines()) == 1


def test_corrupt_model(capsys, tmp_path, nmnist_folder):
    bad = tmp_path / "m.safetensors"
    bad.write_bytes(b"garbage" * 100)
    code, _, err = run_cli(capsys, "classify", nmnist_folder, "--model", bad)
    assert code == 2 and "m.safetensors" in err and len(err.strip().splitlines()) == 1


def test_model_whose_classes_do_not_fit_the_labels(capsys, tmp_path, nmnist_folder):
    model = build_model(ModelConfig(width=0.125, num_classes=3))
    path = save_model(model, ModelMeta(model.config, ("cat", "dog", "car")), tmp_path / "three.safetensors")
    code, _, err = run_cli(capsys, "classify", nmnist_folder, "--model", path)
    assert code == 2 and "do not include the recording's labels" in err


def test_no_camera_and_refused_network(capsys, model_file, free_port, monkeypatch):
    from r2etl_core.io.dv import readers as dv_readers

    monkeypatch.setattr(dv_readers, "_discover_devices", lambda: [])
    code, _, err = run_cli(capsys, "classify", "camera", "--model", model_file)
    assert code == 2 and "no event camera found" in err
    code, _, err = run_cli(capsys, "classify", f"127.0.0.1:{free_port}", "--model", model_file)
    assert code == 2 and "connection refused" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(capsys, "classify", f"localhost:{free_port}", "--model", model_file)
    assert code == 2 and "connection refused" in err  # host names are resolved before dv sees them
    code, _, err = run_cli(capsys, "classify", "no-such-host.invalid:7777", "--model", model_file)
    assert code == 2 and "unknown host" in err and len(err.strip().splitlines()) == 1


def test_info_on_model_recording_and_sample(capsys, model_file, nmnist_folder):
    code, out, _ = run_cli(capsys, "info", model_file, "--json")
    assert code == 0 and json.loads(out)["classes"].startswith("0, 1")
    code, out, _ = run_cli(capsys, "info", REPO / "recordings" / "davis346-trimmed.aedat4", "--json")
    info = json.loads(out)
    assert code == 0 and info["resolution"] == "346x260" and info["events"] == 6676
    code, out, _ = run_cli(capsys, "info", nmnist_folder / "1" / "00000.bin", "--json")
    assert code == 0 and json.loads(out)["events"] == 800
    code, _, err = run_cli(capsys, "info", nmnist_folder / "nothing.txt")
    assert code == 2 and "not found" in err


def test_cli_process_exit_code_and_help():
    """The installed entry point: bad input -> exit 2, one line, no traceback."""
    r = subprocess.run([sys.executable, "-m", "r2etl_core.cli.main", "classify", "/no/such/file.aedat4"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "/no/such/file.aedat4" in r.stderr
    r = subprocess.run([sys.executable, "-m", "r2etl_core.cli.main", "--help"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "classify" in r.stdout and "train" in r.stdout


def test_denoise_removes_isolated_events(capsys, model_file, nmnist_folder):
    code, out, _ = run_cli(capsys, "classify", nmnist_folder, "--model", model_file, "--json")
    plain = json.loads(out.splitlines()[-1])["events"]
    code, out, err = run_cli(capsys, "classify", nmnist_folder, "--model", model_file, "--denoise-us", "1000", "--json")
    assert code == 0, err
    # uniformly random events are mostly isolated: the filter must drop many of them
    assert 0 < json.loads(out.splitlines()[-1])["events"] < plain * 0.8


def test_demo_recording_with_shipped_model_scores_at_least_90_percent(capsys):
    """The README's promise: the bundled model on the bundled demo (held-out digits)."""
    code, out, err = run_cli(capsys, "classify", REPO / "recordings" / "nmnist-demo.aedat4", "--json")
    assert code == 0, err
    summary = json.loads(out.splitlines()[-1])
    assert summary["segments"] == 21 and summary["events"] == 356_173  # facts of the live-like demo
    assert summary["unknown_rate_in_unknown"] >= 0.75  # its stretch of traffic is no digit
    assert summary["segment_accuracy"] >= 0.9
    assert summary["dropped"] == 0


@pytest.mark.parametrize("name,width,height", [
    ("dvxplorer-320x240-person.aedat4", 320, 240),
    ("davis346-lab-frames.aedat4", 346, 260),
    ("davis346-trimmed.aedat4", 346, 260),
])
def test_real_camera_recordings_classify_without_error(capsys, shared_data, tmp_path, name, width, height):
    out_file = tmp_path / "p.jsonl"
    code, out, err = run_cli(capsys, "classify", shared_data / "recordings" / name, "--out", out_file, "--json")
    assert code == 0, err
    summary = json.loads(out.splitlines()[-1])
    lines = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert summary["slices"] == len(lines) > 0 and summary["dropped"] == 0
    # every event of the sensor reaches a slice (the ROI crops what the model sees, not the count)
    from r2etl_core.io.dv import read_all_events

    assert summary["events"] == len(read_all_events(shared_data / "recordings" / name))


@pytest.mark.parametrize("command", ["classify", "info"])
def test_an_empty_input_name_is_one_line(capsys, command):
    code, out, err = run_cli(capsys, command, "")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "is empty" in err and "no .bin event samples" not in err


@pytest.mark.parametrize("command, flag, default", [
    ("calibrate", "--quantile", "UNKNOWN_QUANTILE"),  # the help once said 0.99 while 0.98 was used
    ("export", "--dt", "NIR_DT_S"),
    ("classify", "--stall-s", "DEFAULT_STALL_S"),
])
def test_help_quotes_the_default_the_code_uses(command, flag, default):
    import argparse

    from r2etl_core import limits
    from r2etl_core.cli.main import build_parser

    sub = next(a for a in build_parser(command)._actions if isinstance(a, argparse._SubParsersAction))
    action = next(a for a in sub.choices[command]._actions if flag in a.option_strings)
    assert f"default {getattr(limits, default):g}" in action.help


def test_calibrate_and_export_use_those_defaults():
    from r2etl_core import limits
    from r2etl_core.nn import nir_graph
    from r2etl_core.train import calibrate

    assert calibrate.QUANTILE == limits.UNKNOWN_QUANTILE and nir_graph.DEFAULT_DT == limits.NIR_DT_S
