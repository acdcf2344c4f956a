"""The allowed ranges of model and training numbers, and the stream defaults, in one place.

A training config (``r2etl_core.train.config``) and a model file's metadata
(``r2etl_core.nn.meta``) describe the same network, so they accept the same values: a model
that training can write is a model that loading accepts, and a metadata value that would make
loading allocate gigabytes (input size 100000) is refused with its range instead.
"""

from __future__ import annotations

from r2etl_core.parse import SLICE_US_MAX, SLICE_US_MIN

TIME_STEPS = (1, 1000)  # T, steps per sample
INPUT_SIZE = (8, 512)  # square frame side in pixels; 512 at width 1 is already a ~0.5 GB network
WIDTH = (0.01, 4.0)  # channel multiplier (1.0 = the paper's network)
NUM_CLASSES = (1, 100_000)
SLICE_US = (SLICE_US_MIN, SLICE_US_MAX)  # time slicing: 0.1 ms .. 10 s per step
EVENTS_PER_SLICE = (1, 100_000_000)  # count slicing
SENSOR_SIDE = (1, 65_535)  # sensor width / height in pixels
FRAME_MODES = ("time", "count")
TIME_ORIGINS = ("zero", "first")
WEIGHT_ABS_MAX = 1e6  # shipped models stay below 1.5; x1e37 (a corrupt file) overflows every forward

# Stream defaults shared by the CLI, the viewer and the library. This module loads neither
# dv-processing nor torch, so help texts can quote them without the import cost.
DEFAULT_STALL_S = 10.0  # network input: lost after this long without data (a camera's noise alone
#                         arrives many times a second)
DENOISE_US = 2000  # background-activity filter window of the viewer's "filter noise" box
# 2% of held-out digit slices "unknown": 0.99 was tried first and left the budget of <= 3% on
# digits unspent (0.3-1.7%) while a real person recording got only 65% (docs/benchmarks.md)
UNKNOWN_QUANTILE = 0.98  # r2etl calibrate: share of the classes' held-out slices NOT called unknown
NIR_DT_S = 1e-4  # seconds of NIR time per slice (see r2etl_core.nn.nir_export)

# Training frames are held in memory (or a memory-mapped cache): a combination of legal values
# (input size 512, 1000 time steps, a folder of 100,000 clips) can ask for more than the machine
# has, and the OS then kills the run minutes in. Refused up front instead, with the numbers.
FRAMES_MEMORY_FRACTION = 0.5  # of physical memory


def physical_memory_bytes() -> int | None:
    import os

    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not on this OS: nothing to check against
        return None


def check_frames_fit(samples: int, time_steps: int, size: int, itemsize: int, what: str) -> None:
    """InputError when ``samples`` frames of ``time_steps`` x 2 x ``size``^2 would not fit in
    ``FRAMES_MEMORY_FRACTION`` of this machine's memory."""
    from r2etl_core.errors import InputError

    need = samples * time_steps * 2 * size * size * itemsize
    total = physical_memory_bytes()
    if total is not None and need > total * FRAMES_MEMORY_FRACTION:
        raise InputError("data.input_size", f"{samples:,} {what} of {time_steps} steps at {size}x{size} pixels "
                                            f"need {need / 2**30:.1f} GiB of memory, more than half of this "
                                            f"machine's {total / 2**30:.1f} GiB: lower data.input_size or "
                                            "data.time_steps, or train on fewer samples")
