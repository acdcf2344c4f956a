"""R2ETLNet shapes at several sizes/widths, aligned outputs, step/multi-step equivalence, model files."""

import dataclasses

import pytest
import torch

from r2etl_core.errors import ModelError
from r2etl_core.io.modelfile import load_model, save_model
from r2etl_core.nn.meta import ModelMeta
from r2etl_core.nn.model import ModelConfig, build_model
from r2etl_core.nn.meta import SlicingSpec


@pytest.mark.parametrize("size,width", [(34, 0.125), (48, 0.0625), (32, 0.25), (20, 0.0625)])
def test_shapes_at_several_sizes_and_widths(size, width):
    model = build_model(ModelConfig(num_classes=7, input_size=size, width=width, time_steps=3))
    t, b = 3, 2
    logits, stem, pre = model.forward_aligned(torch.rand(t, b, 2, size, size), "events")
    c_stem = model.config.channels(64)
    assert logits.shape == (t, b, 7)
    assert stem.shape == (t, b, c_stem, size, size)
    assert pre.shape == (t, b, model.config.channels(256))
    assert set(stem.unique().tolist()) <= {0.0, 1.0}  # stem output is spikes
    model.reset_state()
    logits_img, stem_img, _ = model.forward_aligned(torch.randn(t, b, 3, size, size), "images")
    assert logits_img.shape == (t, b, 7) and stem_img.shape == stem.shape


def test_image_and_event_stems_are_separate_and_trunk_shared():
    model = build_model(ModelConfig(input_size=34, width=0.125))
    assert model.stem_img[0].weight.shape[1] == 3 and model.stem_evt[0].weight.shape[1] == 2
    names = [n for n, _ in model.named_parameters()]
    assert not any("trunk" in n and ("img" in n or "evt" in n) for n in names)


def test_single_step_equals_multi_step_in_eval_mode():
    torch.manual_seed(0)
    model = build_model(ModelConfig(input_size=34, width=0.125, time_steps=6)).eval()
    x = (torch.rand(6, 3, 2, 34, 34) < 0.3).float() * 3.0
    with torch.no_grad():
        model.reset_state()
        multi = model(x, "events")
        model.set_step_mode("s")
        model.reset_state()
        single = torch.stack([model(x[t], "events") for t in range(6)])
    assert multi.shape == single.shape == (6, 3, 10)
    assert torch.allclose(multi, single, atol=1e-5)
    assert multi.abs().sum() > 0  # the network produced something: not a trivial equality


def test_reset_state_forgets_the_previous_sample():
    torch.manual_seed(1)
    model = build_model(ModelConfig(input_size=34, width=0.125, time_steps=4)).eval()
    a, b = torch.rand(4, 2, 2, 34, 34) * 4, torch.rand(4, 2, 2, 34, 34) * 4

    def bottleneck_potential(x):
        return model.forward_aligned(x, "events")[2]

    with torch.no_grad():
        model.reset_state()
        fresh = bottleneck_potential(b)
        model.reset_state()
        bottleneck_potential(a)
        carried = bottleneck_potential(b)  # state from a leaks in without a reset
        model.reset_state()
        again = bottleneck_potential(b)
    assert torch.equal(fresh, again)
    assert not torch.allclose(fresh, carried)


def _meta(model, arch_override=None):
    config = model.config if arch_override is None else dataclasses.replace(model.config, arch=arch_override)
    return ModelMeta(config, tuple(str(i) for i in range(10)), SlicingSpec("time", 30_000, 0, 34, 34))


def test_model_file_from_another_architecture_is_rejected(tmp_path):
    model = build_model(ModelConfig(input_size=34, width=0.125))
    path = save_model(model, _meta(model, "resnet18-snn"), tmp_path / "other.safetensors")
    with pytest.raises(ModelError, match="unknown architecture"):
        load_model(path)


def test_model_file_with_mismatched_weights_is_rejected(tmp_path):
    model = build_model(ModelConfig(input_size=34, width=0.125))
    wrong = ModelMeta(ModelConfig(input_size=64, width=0.125), tuple(str(i) for i in range(10)))
    path = save_model(model, wrong, tmp_path / "wrong.safetensors")
    with pytest.raises(ModelError, match="disagree"):
        load_model(path)
