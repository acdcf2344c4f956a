"""The checks behind "never a traceback": ranges, where an error points, paths, train state."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from r2etl_core.cli.main import main
from r2etl_core.errors import InputError
from r2etl_core.io.files import check_output_dir
from r2etl_core.parse import brief, check_whole, shown
from r2etl_core.train.config_file import config_from_dict, load_config
from r2etl_core.train.datasets.events import EventSet
from r2etl_core.train.run import count_slice_events
from r2etl_core.train.state import load_train_state


def test_whole_numbers_reject_bools_fractions_and_text_with_the_range():
    assert check_whole("k", 34.0, 8, 512) == 34 and check_whole("k", 8, 8, 512) == 8
    for bad in (True, 34.5, "34", float("nan"), 7, 513, 10**400):
        with pytest.raises(InputError, match=r"k: must be a whole number between 8 and 512, got"):
            check_whole("k", bad, 8, 512)


def test_messages_stay_short_whatever_the_input():
    assert len(shown("x" * 200_000)) == 60 and shown(5) == "5"
    assert brief(ValueError("first line\nsecond")) == "first line"
    assert len(brief(ValueError("y" * 1000))) == 160


def test_a_bad_value_names_the_file_only_when_it_came_from_the_file(tmp_path):
    toml = tmp_path / "my.toml"
    toml.write_text("[data]\ntime_steps = 0\n")
    with pytest.raises(InputError) as err:
        load_config(toml)
    assert str(err.value) == f"{toml}: data.time_steps: must be a whole number between 1 and 1,000, got 0"
    with pytest.raises(InputError) as err:
        load_config("shared-nmnist", ["data.time_steps=0"])
    assert str(err.value) == "data.time_steps: must be a whole number between 1 and 1,000, got 0"
    with pytest.raises(InputError, match="optim.lr: must be between"):
        config_from_dict({"optim": {"lr": float("inf")}})


def test_shortcut_flags_are_named_as_typed(capsys):
    assert main(["train", "--steps", "-1"]) == 2
    err = capsys.readouterr().err
    assert err == "r2etl train: error: --steps (optim.steps): must be a whole number between 0 and " \
                  "100,000,000, got -1\n"


def test_argparse_errors_are_one_line_too(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["eval", "--data", "nmnist:x", "--batch-size", "many"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and "--batch-size" in err and "usage" not in err


def test_output_folders(tmp_path):
    assert check_output_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="is a file, expected a folder"):
        check_output_dir(tmp_path / "f")
    with pytest.raises(InputError, match=r"f is a file, expected a folder"):
        check_output_dir(tmp_path / "f" / "sub")


def test_count_sliced_models_record_their_events_per_step():
    """Count slicing cuts each sample into T equal parts: the model file must say how many
    events a streamed slice should hold (0 would never close a slice and is refused at load)."""
    frames = np.zeros((4, 10, 2, 17, 17), np.float16)
    frames[:, :, 0, 0, 0] = 5.0  # 5 (resized) counts per step
    val = EventSet(frames, np.zeros(4, np.int64), ("a",), tuple("abcd"))
    assert count_slice_events(val, (34, 34), 17) == 20  # x4: 34x34 sensor pixels per 17x17 frame pixels
    assert count_slice_events(val.subset([]), (34, 34), 17) == 1


def test_a_corrupt_train_state_is_an_input_error(tmp_path):
    state = tmp_path / "last-state.safetensors"
    state.write_bytes(b"not a safetensors file at all")
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))])
    with pytest.raises(InputError, match="training state is unreadable"):
        load_train_state(state, optimizer, None)
    with pytest.raises(InputError, match="no training state"):
        load_train_state(tmp_path / "absent.safetensors", optimizer, None)
