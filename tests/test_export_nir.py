"""NIR export: the shipped models export, re-read with `nir` and verify against an independent
interpreter on the demo; a wrong export (unfolded batch norm, wrong leak) is caught."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nir
import numpy as np
import pytest
import torch
from torch import nn

from r2etl_core.cli.main import main
from r2etl_core.nn import nir_graph
from r2etl_core.nn.nir_graph import build_nir_graph, fold_batchnorm
from r2etl_core.nn.nir_runner import NIRRunner
from r2etl_core.stream.nir_check import compare, recording_frames
from r2etl_core.io.modelfile import load_model

ROOT = Path(__file__).resolve().parents[1]
MODELS = sorted((ROOT / "r2etl_core" / "models").glob("*.safetensors"))
DEMO = ROOT / "recordings" / "nmnist-demo.aedat4"
SLICES = 60  # 1.8 s of the demo: digits and their spikes, a few seconds of test


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def demo_frames():
    model, meta = load_model(MODELS[0])
    return torch.cat(list(recording_frames(DEMO, meta, SLICES)))


def test_both_shipped_models_are_there():
    assert {p.name for p in MODELS} == {"nmnist-r2etl.safetensors", "nmnist-r2etl-live.safetensors",
                                        "nmnist-r2etl-live-tuned.safetensors"}


@pytest.mark.parametrize("model_path", MODELS, ids=lambda p: p.stem)
def test_shipped_model_exports_and_verifies(capsys, tmp_path, model_path):
    out = tmp_path / "model.nir"
    code, stdout, err = run_cli(capsys, "export", model_path, "--nir", out, "--slices", SLICES, "--json")
    assert code == 0, err
    result = json.loads(stdout.splitlines()[-1])
    assert result["verified"] and result["slices"] == SLICES
    assert result["top1_agree"] == SLICES
    assert result["max_logit_diff"] <= 1e-4
    assert result["spike_mismatches"] <= 1e-5 * result["spikes"] and result["spikes"] > 1000  # busy network

    graph = nir.read(str(out))  # type-checked by nir on the way in
    model, meta = load_model(model_path)
    assert graph.metadata["dt"] == result["dt"] == 1e-4  # what snnTorch's importer assumes
    assert int(graph.metadata["slice_us"]) == 30_000 and int(graph.metadata["input_size"]) == 34
    assert "channel 0: ON" in graph.metadata["input_channels"] and "centred" in graph.metadata["crop"]
    assert json.loads(graph.metadata["class_names"]) == list(meta.class_names)
    assert graph.metadata["source_sha256"] == hashlib.sha256(model_path.read_bytes()).hexdigest()
    lifs = [n for n in graph.nodes.values() if isinstance(n, nir.LIF)]
    convs = [n for n in graph.nodes.values() if isinstance(n, nir.Conv2d)]
    assert len(lifs) == len(model.spiking_layers()) == 9 and len(convs) == 8
    dt = np.float32(graph.metadata["dt"])
    for lif in lifs:
        np.testing.assert_array_equal(lif.tau, 2 * dt)
        assert (lif.r == 2).all() and (lif.v_leak == 0).all() and (lif.v_threshold == 1).all()
        assert (lif.v_reset == 0).all()
    assert not any("Norm" in type(n).__name__ for n in graph.nodes.values())
    assert list(graph.output_type.values())[0].tolist() == [meta.config.num_classes]


def test_folded_conv_equals_conv_then_batchnorm():
    torch.manual_seed(0)
    conv, bn = nn.Conv2d(2, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    bn.eval()
    x = torch.rand(3, 2, 9, 9) * 4
    weight, bias = fold_batchnorm(conv, bn)
    folded = torch.nn.functional.conv2d(x, torch.from_numpy(weight), torch.from_numpy(bias), padding=1)
    torch.testing.assert_close(folded, bn(conv(x)), atol=1e-5, rtol=1e-5)


def test_unfolded_batchnorm_is_caught(demo_frames):
    model, meta = load_model(MODELS[0])
    graph = build_nir_graph(model, meta)
    blocks = [model.stem_evt, *model.trunk]
    convs = [n for n in graph.nodes.values() if isinstance(n, nir.Conv2d)]
    for node, block in zip(convs, blocks):  # what exporting without the fold would give
        node.weight = block[0].weight.detach().numpy().copy()
        node.bias = np.zeros(node.weight.shape[0], np.float32)
    report = compare(model, graph, iter([demo_frames]))
    assert not report.ok
    assert report.spike_mismatches > 0 and report.max_logit_diff > 1e-4


def test_wrong_leak_is_caught(demo_frames):
    model, meta = load_model(MODELS[0])
    graph = build_nir_graph(model, meta)
    lif = graph.nodes["stem"]
    lif.tau = np.full_like(lif.tau, np.float32(graph.metadata["dt"]))  # tau = dt: no memory at all
    report = compare(model, graph, iter([demo_frames]))
    assert not report.ok and report.spike_mismatches > 0


def test_right_graph_agrees_exactly_on_the_same_frames(demo_frames):
    model, meta = load_model(MODELS[0])
    report = compare(model, build_nir_graph(model, meta), iter([demo_frames]))
    assert report.ok and report.slices == SLICES and report.max_logit_diff <= 1e-6
    assert report.spike_mismatches <= 1  # rounding at the threshold after the fold, if anything


def test_cli_mismatch_exits_1_with_one_line_and_keeps_no_file(capsys, tmp_path, monkeypatch):
    def unfolded(conv, bn):
        return conv.weight.detach().numpy().copy(), np.zeros(conv.out_channels, np.float32)

    monkeypatch.setattr(nir_graph, "fold_batchnorm", unfolded)
    out = tmp_path / "wrong.nir"
    code, _, err = run_cli(capsys, "export", MODELS[0], "--nir", out, "--slices", 20)
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "does not match" in err and "not written" in err
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temporary one


def test_another_dt_scales_tau_and_still_verifies(capsys, tmp_path):
    out = tmp_path / "slow.nir"
    code, stdout, err = run_cli(capsys, "export", MODELS[0], "--nir", out, "--dt", "0.03", "--slices", 20, "--json")
    assert code == 0, err
    graph = nir.read(str(out))
    assert graph.metadata["dt"] == 0.03
    np.testing.assert_array_equal(graph.nodes["bottleneck"].tau, 2 * np.float32(0.03))


def test_no_verify_still_writes_a_readable_file(capsys, tmp_path):
    out = tmp_path / "m.nir"
    code, stdout, _ = run_cli(capsys, "export", MODELS[1], "--nir", out, "--no-verify")
    assert code == 0 and "not verified" in stdout
    assert isinstance(nir.read(str(out)), nir.NIRGraph)


@pytest.mark.parametrize("argv, problem", [
    (["export", "missing.safetensors", "--nir", "x.nir"], "model file not found"),
    (["export", str(MODELS[0]), "--nir", "no/such/folder/x.nir"], "does not exist"),
])
def test_bad_input_exits_2_with_one_line(capsys, argv, problem):
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and problem in err and len(err.strip().splitlines()) == 1


def test_runner_follows_nir_threshold_and_counts_ties():
    """NIR fires at v > threshold: a potential exactly at 1 does not fire (spikingjelly's
    v >= 1 would) and is counted as a tie; above it fires and resets to v_reset."""
    ones = np.ones(1, np.float32)
    lif = nir.LIF(tau=ones * 0.06, r=ones * 2, v_leak=ones * 0, v_threshold=ones, v_reset=ones * 0)
    graph = nir.NIRGraph.from_list(nir.Affine(weight=np.eye(1, dtype=np.float32), bias=ones * 0), lif)
    graph.metadata = {"dt": 0.03}
    runner = NIRRunner(graph)
    name = runner.lif_names[0]
    runner.step(torch.ones(1, 1))  # v = 0.5 * 0 + 1 = 1: a tie
    assert runner.spikes[name].item() == 0 and runner.ties()[name] == 1
    runner.step(torch.full((1, 1), 0.75))  # v = 0.5 + 0.75 = 1.25 > 1
    assert runner.spikes[name].item() == 1
    runner.step(torch.zeros(1, 1))  # reset to 0, then 0.5 * 0 + 0
    assert runner.spikes[name].item() == 0 and runner.ties()[name] == 1
