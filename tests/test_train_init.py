"""Training from an existing model (--init): fine-tuning and a new classifier for new classes."""

from pathlib import Path

import pytest
import torch

from r2etl_core.errors import ModelError
from r2etl_core.io.modelfile import load_model
from r2etl_core.train.config_file import config_from_dict
from r2etl_core.train.run import train
from scripts.synthetic_sets import write_mnist_npz, write_nmnist_folder


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("init")
    return (write_nmnist_folder(root / "ten", per_class=5, num_classes=10),
            write_nmnist_folder(root / "three", per_class=5, num_classes=3), write_mnist_npz(root / "m.npz", n=60))


def config(events: Path, images: Path, out: Path, **model):
    return config_from_dict({
        "data": {"events_dir": str(events), "images_path": str(images), "time_steps": 4, "augment_flip": False,
                 "augment_shift": 1, "augment_noise_hz": 2.0, "cache_dir": str(out.parent / "cache")},
        "model": {"width": 0.0625, **model},
        "optim": {"batch_size": 8, "lr": 5e-3, "steps": 6, "scheduler": "none"},
        "run": {"out_dir": str(out), "eval_every": 6, "progress": False},
    })


def test_init_fine_tunes_or_reuses_the_trunk_for_new_classes(data, tmp_path):
    ten, three, images = data
    _, base = train(config(ten, images, tmp_path / "base"))
    base_model, base_meta = load_model(base)
    _, tuned = train(config(ten, images, tmp_path / "tuned", init=str(base)))
    tuned_meta = load_model(tuned)[1]
    assert tuned_meta.training["init_from"] == str(base) and tuned_meta.training["reused"] == "all"

    # three classes: the trunk starts from the base model, the classifier is new
    cfg = config(three, images, tmp_path / "new", init=str(base))
    cfg = config_from_dict({**cfg.to_dict(), "optim": {**cfg.to_dict()["optim"], "lr": 1e-9},
                            "loss": {"mode": "events-only"}})  # the image set has 10 classes
    _, new = train(cfg)
    new_model, new_meta = load_model(new)
    assert new_meta.class_names == ("0", "1", "2") and "new classifier" in new_meta.training["reused"]
    assert torch.allclose(new_model.stem_evt[0].weight, base_model.stem_evt[0].weight, atol=1e-6)
    assert new_model.classifier.weight.shape[0] == 3


def test_init_from_another_architecture_is_one_line(data, tmp_path):
    ten, _three, images = data
    _, base = train(config(ten, images, tmp_path / "base"))
    cfg = config(ten, images, tmp_path / "wide", init=str(base))
    cfg = config_from_dict({**cfg.to_dict(), "model": {"width": 0.125, "init": str(base)}})
    with pytest.raises(ModelError, match="width 0.0625, this run 0.125"):
        train(cfg)
    with pytest.raises(ModelError):
        train(config(ten, images, tmp_path / "x", init=str(tmp_path / "missing.safetensors")))
