"""One device picker for training, the engine and doctor: auto, cpu, cuda[:N], clear errors."""

import pytest
import torch

from r2etl_core.errors import InputError
from r2etl_core.nn.device import device_name, pick_device

HAS_CUDA = torch.cuda.is_available()


@pytest.mark.parametrize("requested", [None, "auto", " AUTO "])
def test_auto_is_cuda_when_present_else_cpu(requested):
    assert pick_device(requested).type == ("cuda" if HAS_CUDA else "cpu")


def test_cpu_is_the_cpu():
    device = pick_device("cpu")
    assert device == torch.device("cpu") and device_name(device).startswith("CPU (")


@pytest.mark.skipif(HAS_CUDA, reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_one_line_naming_the_setting():
    with pytest.raises(InputError) as err:
        pick_device("cuda:0", "run.device")
    assert str(err.value).startswith("run.device: cuda:0: no CUDA GPU") and "\n" not in str(err.value)


def test_a_name_that_is_no_device_is_refused():
    with pytest.raises(InputError, match=r"^--device: 'gpu' is not a device"):
        pick_device("gpu")


def test_training_and_the_engine_use_this_picker():
    from r2etl_core.stream import engine
    from r2etl_core.train import run

    assert run.pick_device is pick_device and engine.pick_device is pick_device
