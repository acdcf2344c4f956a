"""A lab's own classes from a few seconds of labelled recording: splitting and sizing.

Teaching r2etl a few classes live gives one or two short recordings per class. Then a whole
recording cannot be held out for validation, and a batch of 32 can be more than all the
training windows. Here:

- ``split_by_time``: every labelled segment gives its first part to training and its last
  ``VAL_SHARE`` to validation (on the slice grid, no window crosses the cut), used when too few
  recordings allow holding whole ones out (``data.split = "auto"``);
- ``auto_stride``: windows start every slice instead of every second one when few would be cut;
- ``auto_batch`` / ``auto_steps``: a batch that fits the data and a step budget that scales
  with it (a config value of 0 asks for them).
"""

from __future__ import annotations

from dataclasses import replace

from r2etl_core.errors import InputError
from r2etl_core.io.labels import LabelSegment
from r2etl_core.train.datasets.recordings import RecordingSet
from r2etl_core.train.datasets.windows import WindowParams, window_starts

AUTO = 0  # data.window_stride_slices, optim.batch_size, optim.steps: chosen from the data
VAL_SHARE = 0.25  # by time: the last quarter of every labelled segment is held out
FEW_WINDOWS = 256  # fewer training windows than this at the default stride: a window every slice
MAX_BATCH = 16  # with the step budget below: about a minute of training on a 2-core CPU
STEPS_PER_WINDOW_EPOCHS = 20  # auto steps: about this many passes over the training windows ...
STEPS_RANGE = (150, 300)  # ... within these bounds (a minute or two, not hours)
EVALS = 8  # evaluations (and checkpoints) in an automatically sized run


def split_by_time(recordings: RecordingSet, params: WindowParams, share: float = VAL_SHARE
                  ) -> tuple[RecordingSet, RecordingSet]:
    """(train, validation): each segment cut at a slice-grid line near ``1 - share`` of its
    length. A segment too short to give validation a whole window stays in training."""
    w, t = params.slice_us, params.time_steps
    train, val = [], []
    for rec in recordings.recordings:
        keep, held = [], []
        for seg in rec.segments:
            cut = seg.end_us - max(int((seg.end_us - seg.start_us) * share) // w * w, (t + 1) * w)
            first = LabelSegment(seg.start_us, cut, seg.label)
            last = LabelSegment(cut, seg.end_us, seg.label)
            if window_starts(first, params) and window_starts(last, params):
                keep.append(first)
                held.append(last)
            else:
                keep.append(seg)
        train.append(replace(rec, segments=tuple(keep)))
        if held:
            val.append(replace(rec, segments=tuple(held)))
    if not val:
        need = 4 * (t + 1) * w / 1e6
        raise InputError(recordings.root, f"too little labelled material to hold any out for validation: "
                                          f"label at least {need:.1f} s of each class, or record a second clip")
    missing = sorted(set(recordings.class_names) - {label for rec in val for label in rec.labels})
    if missing:
        raise InputError(recordings.root, f"class(es) {missing[:5]} have no segment long enough to hold out "
                                          f"its last {share:.0%}: label at least {4 * (t + 1) * w / 1e6:.1f} s")
    return (RecordingSet(recordings.root, tuple(train), recordings.class_names, recordings.sensor),
            RecordingSet(recordings.root, tuple(val), recordings.class_names, recordings.sensor))


def count_windows(recordings: RecordingSet, params: WindowParams) -> int:
    return sum(len(window_starts(seg, params)) for rec in recordings.recordings for seg in rec.segments)


def auto_stride(recordings: RecordingSet, params: WindowParams, default: int = 2) -> int:
    """``default`` unless that cuts fewer than ``FEW_WINDOWS`` training windows: then 1."""
    return default if count_windows(recordings, replace(params, stride_slices=default)) >= FEW_WINDOWS else 1


def auto_batch(n_train: int) -> int:
    """The largest power of two up to ``MAX_BATCH`` giving at least 4 batches an epoch (>= 2:
    the alignment loss compares samples within a batch)."""
    batch = MAX_BATCH
    while batch > 2 and batch * 4 > n_train:
        batch //= 2
    return batch


def auto_steps(n_train: int, batch: int) -> int:
    lo, hi = STEPS_RANGE
    return int(min(hi, max(lo, round(STEPS_PER_WINDOW_EPOCHS * n_train / batch))))


def sized_for(cfg, n_train: int):
    """``cfg`` (TrainConfig) with a batch size and step budget for ``n_train`` training samples
    where it asks for them (0)."""
    o = cfg.optim
    batch = o.batch_size or auto_batch(n_train)
    if o.steps or o.epochs:
        return replace(cfg, optim=replace(o, batch_size=batch))
    steps = auto_steps(n_train, batch)
    # a small set makes an epoch a few steps: evaluate (and checkpoint) ~EVALS times, not every
    # epoch nor at the shipped recipe's cadence (its 200 steps would be once or twice here)
    every = max(1, steps // EVALS)
    return replace(cfg, optim=replace(o, batch_size=batch, steps=steps), run=replace(cfg.run, eval_every=every))
