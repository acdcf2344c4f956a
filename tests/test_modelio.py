import json

import pytest
import torch
from safetensors.torch import save_file

from r2etl_core.errors import ModelError
from r2etl_core.io.modelfile import load_model, read_meta, save_model
from r2etl_core.nn.meta import ModelMeta
from r2etl_core.nn.model import ModelConfig, build_model
from r2etl_core.nn.meta import SlicingSpec


def small(width=0.125, classes=10):
    model = build_model(ModelConfig(num_classes=classes, width=width, input_size=34))
    return model, ModelMeta(model.config, tuple(f"c{i}" for i in range(classes)), SlicingSpec(slice_us=25_000),
                            training={"mode": "r2etl"}, metrics={"val_accuracy": 0.5})


def test_round_trip_keeps_weights_and_metadata(tmp_path):
    model, meta = small()
    path = save_model(model, meta, tmp_path / "m.safetensors")
    loaded, meta2 = load_model(path)
    assert meta2.class_names == meta.class_names and meta2.slicing.slice_us == 25_000
    assert meta2.training["mode"] == "r2etl" and meta2.metrics["val_accuracy"] == 0.5
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    model, meta = small()
    path = save_model(model, meta, tmp_path / "m.safetensors")
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("r2etl_core.io.modelfile.save_file", boom)
    with pytest.raises(OSError):
        save_model(model, meta, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temp file left


@pytest.mark.parametrize("content,problem", [
    (b"", "empty"),
    (b"\x00" * 7, "not a readable safetensors"),
    (b"this is not a model at all, just text" * 10, "not a readable safetensors"),
])
def test_corrupt_files(tmp_path, content, problem):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(ModelError) as err:
        load_model(path)
    assert problem in str(err.value) and "bad.safetensors" in str(err.value)


def test_missing_and_folder(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        read_meta(tmp_path / "nope.safetensors")
    with pytest.raises(ModelError, match="folder"):
        read_meta(tmp_path)


def test_safetensors_without_our_metadata(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(ModelError, match="not an r2etl model"):
        load_model(path)


def test_weights_that_do_not_match_metadata(tmp_path):
    model, meta = small(width=0.125)
    wrong_meta = ModelMeta(ModelConfig(width=0.25, input_size=34), meta.class_names)
    path = tmp_path / "mismatch.safetensors"
    save_model(model, wrong_meta, path)
    with pytest.raises(ModelError, match="model and metadata disagree"):
        load_model(path)


def test_other_architecture_rejected(tmp_path):
    model, meta = small()
    path = tmp_path / "arch.safetensors"
    bad = json.loads(meta.to_json())
    bad["model"]["arch"] = "resnet-snn"
    weights = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(weights, str(path), metadata={"r2etl": json.dumps(bad)})
    with pytest.raises(ModelError, match="unknown architecture"):
        load_model(path)


def test_class_names_must_match_class_count(tmp_path):
    model, meta = small()
    bad = json.loads(meta.to_json())
    bad["class_names"] = ["a", "b"]
    path = tmp_path / "names.safetensors"
    weights = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(weights, str(path), metadata={"r2etl": json.dumps(bad)})
    with pytest.raises(ModelError, match="2 class names for 10 classes"):
        read_meta(path)
