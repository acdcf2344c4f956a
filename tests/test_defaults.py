"""One default per setting: the training config, the frames it makes, the model file it writes
and the stream front ends agree (a default restated in two places drifts apart)."""

from r2etl_core import limits
from r2etl_core.nn.model import ModelConfig
from r2etl_core.train.config import DataConfig
from r2etl_core.train.datasets.frames import FrameParams
from r2etl_core.types import DEFAULT_SLICE_US
from r2etl_core.nn.meta import SlicingSpec


def test_slice_length_default_is_one_number():
    assert DataConfig().slice_us == FrameParams().slice_us == SlicingSpec().slice_us == DEFAULT_SLICE_US


def test_frame_shape_defaults_agree_between_training_and_model_files():
    data, frames, model, slicing = DataConfig(), FrameParams(), ModelConfig(), SlicingSpec()
    assert data.time_steps == frames.time_steps == model.time_steps
    assert data.input_size == frames.out_size == model.input_size
    assert (frames.sensor_width, frames.sensor_height) == (slicing.sensor_width, slicing.sensor_height)
    assert data.frame_mode == frames.mode == slicing.mode and data.time_origin == frames.time_origin


def test_denoise_window_of_the_viewer_is_the_library_one():
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from app import controls, session

    assert session.DENOISE_US is controls.DENOISE_US is limits.DENOISE_US
