"""The allowed ranges of model and training numbers, in one place.

A training config (``r2etl_core.train.config``) and a model file's metadata
(``r2etl_core.io.modelcheck``) describe the same network, so they accept the same values: a model
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
