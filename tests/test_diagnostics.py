"""Alignment evidence options: per-term gradient shares and measured EAM/FAM in every mode,
instance-level pairing, and the authors' (Kaiming) initialisation. Tiny synthetic data."""

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from r2etl_core.errors import InputError
from r2etl_core.nn.model import ModelConfig, apply_init_scheme, build_model
from r2etl_core.train.config_file import config_from_dict
from r2etl_core.train.data import build_train_data, split_events
from r2etl_core.train.datasets.images import images_to_tensor_array
from r2etl_core.train.datasets.instances import instance_pair_indices
from r2etl_core.train.datasets.splits import nmnist_image_id
from r2etl_core.train.run import train
from scripts.synthetic_sets import write_mnist_npz, write_nmnist_folder

SHARES = ("grad_share_tet_evt", "grad_share_tet_img", "grad_share_eam", "grad_share_fam")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return write_nmnist_folder(root / "nmnist", per_class=5, num_classes=10), write_mnist_npz(root / "mnist.npz", n=60)


def tiny_config(tiny_data, out: Path, mode: str = "r2etl", data: dict | None = None, **run):
    events, images = tiny_data
    return config_from_dict({
        "data": {"events_dir": str(events), "images_path": str(images), "time_steps": 4, "augment_flip": False,
                 "augment_shift": 1, "cache_dir": str(out.parent / "cache"), **(data or {})},
        "model": {"width": 0.0625},
        "optim": {"batch_size": 8, "lr": 5e-3, "steps": 4, "scheduler": "none"},
        "loss": {"mode": mode},
        "run": {"out_dir": str(out), "eval_every": 4, "progress": False, **run},
    })


def steps(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("mode, trained", [("r2etl", 4), ("joint-no-align", 2), ("events-only", 1)])
def test_every_mode_logs_alignment_and_gradient_shares(tiny_data, tmp_path, mode, trained):
    out = tmp_path / mode
    train(tiny_config(tiny_data, out, mode, diag_every=2))
    rows = steps(out)
    for row in rows:  # the alignment itself: trained in r2etl, measured (not trained) otherwise
        if mode != "events-only" or row["step"] % 2 == 1:  # events-only measures at diag steps (0, 2 -> rows 1, 3)
            assert math.isfinite(row["eam"]) and math.isfinite(row["fam"]) and 0 <= row["eam"] <= 1.01
    diag = [r for r in rows if "grad_share_tet_evt" in r]
    assert [r["step"] for r in diag] == [1, 3]  # steps 0 and 2, logged after the step
    for row in diag:
        shares = [row[k] for k in SHARES if k in row]
        assert len(shares) == trained and all(math.isfinite(s) and s >= 0 for s in shares)
        assert sum(shares) == pytest.approx(1.0, abs=1e-4)


def test_diagnostics_leave_an_events_only_run_unchanged(tiny_data, tmp_path):
    """Measuring EAM/FAM runs the image branch under no_grad and restores batch-norm statistics."""
    plain, _ = train(tiny_config(tiny_data, tmp_path / "plain", "events-only"))
    diag, _ = train(tiny_config(tiny_data, tmp_path / "diag", "events-only", diag_every=1))
    assert [r["loss"] for r in steps(tmp_path / "plain")] == [r["loss"] for r in steps(tmp_path / "diag")]
    for (name, a), b in zip(plain.model.state_dict().items(), diag.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_instance_pairs_each_sample_with_its_source_image(tiny_data, tmp_path):
    cfg = tiny_config(tiny_data, tmp_path / "inst", data={"pairing": "instance"})
    data = build_train_data(cfg.data, events_only=False)
    ds, train_paths = data.train, split_events(cfg.data)[0].paths  # event_fraction 1: all of them
    assert len(ds) == len(train_paths) == data.counts["image_train"] == 40
    mnist = np.load(tiny_data[1])["images"]
    for k in range(len(ds)):
        image, frames, label = ds[k]
        path = train_paths[int(ds.pairs[k, 1])]
        source = mnist[nmnist_image_id(path)]  # N-MNIST id N = MNIST image N - 1
        expected = images_to_tensor_array(source[None], 34, "mnist")[0]
        assert np.allclose(image.numpy(), expected) and label == int(Path(path).parent.name)
    train(dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, steps=2)))  # trains end to end


def test_instance_pairing_errors_are_clear(tiny_data, tmp_path):
    with pytest.raises(InputError, match="data.pairing.*instance ids"):
        tiny_config(tiny_data, tmp_path / "x", data={"pairing": "instance", "images": "cifar10"})
    with pytest.raises(InputError, match="data.pairing"):
        tiny_config(tiny_data, tmp_path / "x", data={"pairing": "sample"})
    with pytest.raises(InputError, match="not in this file"):
        instance_pair_indices(np.arange(10), np.array([3, 12]), "mnist.npz")
    assert instance_pair_indices(np.array([5, 3, 9]), np.array([3, 9, 5]), "m").tolist() == [[1, 0], [2, 1], [0, 2]]
    small = write_mnist_npz(tmp_path / "small.npz", n=20)  # the samples' sources are images 0..49
    cfg = tiny_config((tiny_data[0], small), tmp_path / "y", data={"pairing": "instance"})
    with pytest.raises(InputError, match="recorded from images not in"):
        build_train_data(cfg.data, events_only=False)


def test_kaiming_init_matches_the_formula_and_default_is_untouched():
    cfg = ModelConfig(10, 34, 0.5, 4)
    torch.manual_seed(0)
    default = build_model(cfg)
    torch.manual_seed(0)
    assert all(torch.equal(a, b) for a, b in zip(default.state_dict().values(),
                                                  apply_init_scheme(build_model(cfg), "default").state_dict().values()))
    model = apply_init_scheme(build_model(cfg), "kaiming")
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    for conv in convs:
        fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
        expected = math.sqrt(2.0 / fan_out)
        tolerance = 0.1 if conv.weight.numel() > 1000 else 0.3  # a sample std of few weights varies more
        assert float(conv.weight.detach().std()) == pytest.approx(expected, rel=tolerance)
    assert set(model.state_dict()) == set(default.state_dict())  # same parameters: model files unchanged
    with pytest.raises(ValueError, match="unknown init scheme"):
        apply_init_scheme(model, "xavier")
    with pytest.raises(InputError, match="model.init_scheme"):
        config_from_dict({"model": {"init_scheme": "xavier"}})
