"""A whole recording at a glance: every slice's answer, and the labels, along the recording.

``compute_timeline`` classifies a recording as fast as the model goes (the same engine,
settings and readout as the viewer; nothing dropped) and keeps, per slice, its recording
time and colour (``stream.colours``: the rule of the viewer's strip). ``Timeline.image``
turns it into rows of pixels for any width; ``plot_timeline`` writes the picture that
``r2etl classify --plot`` makes. Cancel with ``cancel`` (a ``threading.Event``-like object).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from r2etl_core.errors import R2ETLError
from r2etl_core.io.labels import LabelSegment
from r2etl_core.protocols import LabelledSpan
from r2etl_core.stream.colours import NO_DATA_RGB, UNDECIDED_RGB, UNKNOWN_HEX, answer_rgb, class_rgb, label_rgb
from r2etl_core.types import Prediction


@dataclass(frozen=True)
class Timeline:
    """Per slice: start/end in us after the recording start and the answer's colour."""

    duration_us: int
    class_names: tuple[str, ...]
    starts_us: np.ndarray  # int64 [N]
    ends_us: np.ndarray  # int64 [N]
    colours: np.ndarray  # uint8 [N, 3]
    answers: tuple[str, ...]  # Prediction.answer per slice: a class, "?" or "—"
    segments: tuple = field(default=())  # labels, in us after the recording start

    @classmethod
    def from_predictions(cls, predictions: Sequence[Prediction], class_names: tuple[str, ...], t0_us: int,
                         duration_us: int, segments: Sequence[LabelledSpan] = ()) -> "Timeline":
        starts = np.array([p.t_start_us - t0_us for p in predictions], np.int64)
        ends = np.array([p.t_end_us - t0_us for p in predictions], np.int64)
        colours = np.array([answer_rgb(p) for p in predictions], np.uint8).reshape(-1, 3)
        shifted = tuple(LabelSegment(s.start_us - t0_us, s.end_us - t0_us, str(s.label)) for s in segments)
        return cls(int(duration_us), tuple(class_names), starts, ends, colours,
                   tuple(p.answer if p.event_count else "" for p in predictions), shifted)

    def column_of(self, t_us: float, width: int) -> int:
        return int(min(width - 1, max(0, t_us * width / max(self.duration_us, 1))))

    def time_at(self, column: float, width: int) -> int:
        """Recording time (us after the start) under a pixel column: click to jump there."""
        return int(min(self.duration_us, max(0.0, column * self.duration_us / max(width, 1))))

    def image(self, width: int) -> np.ndarray:
        """``[rows, width, 3]`` uint8: the labels (when there are any) above the answers. A
        pixel column shows the last slice that starts in it (slices narrower than a pixel)."""
        rows = 2 if self.segments else 1
        img = np.tile(NO_DATA_RGB, (rows, width, 1))
        if len(self.starts_us):
            first = (self.starts_us * width // max(self.duration_us, 1)).clip(0, width - 1)
            last = ((self.ends_us - 1) * width // max(self.duration_us, 1)).clip(0, width - 1)
            for a, b, colour in zip(first, last, self.colours):
                img[-1, a:b + 1] = colour
        for seg in self.segments:
            a, b = self.column_of(seg.start_us, width), self.column_of(seg.end_us - 1, width)
            img[0, a:b + 1] = label_rgb(seg.label, self.class_names)
        return img


def compute_timeline(spec: str, model_path: str | Path | None = None, settings=None, cancel=None,
                     progress: Callable[[float], None] | None = None) -> Timeline | None:
    """Classify all of ``spec`` with the model (default settings when None); None if cancelled."""
    from r2etl_core.stream.settings import OFFLINE
    from r2etl_core.stream.session import LiveSession
    from r2etl_core.stream.settings import StreamSettings

    session = LiveSession(engine_config=OFFLINE, speed=None)
    try:
        opened = session.open_input(spec)
        session.load_model(model_path)
        session.configure(settings or StreamSettings())
        collected: list[Prediction] = []
        info = opened.source.info
        t0 = info.t_start_us or 0
        session.engine.add_sink(_Collect(collected, t0, info.duration_us, progress))
        session.start_input(opened)
        while not session.engine.wait(0.05):
            if cancel is not None and cancel.is_set():
                return None
        if session.engine.stats().error:
            raise R2ETLError(session.engine.stats().error)
        return Timeline.from_predictions(collected, session.meta.class_names, t0, info.duration_us or 1,
                                         opened.segments)
    finally:
        session.close()


class _Collect:
    def __init__(self, into: list, t0_us: int, duration_us: int | None, progress):
        self.into, self.t0, self.duration, self.progress = into, t0_us, duration_us, progress

    def on_prediction(self, prediction: Prediction, spikes) -> None:
        self.into.append(prediction)
        if self.progress is not None and self.duration:
            self.progress(min(1.0, (prediction.t_end_us - self.t0) / self.duration))

    def close(self) -> None:
        pass


def plot_timeline(timeline: Timeline, path: str | Path, title: str = "") -> Path:
    """Write the timeline as a PNG (labels above answers, a legend of the classes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from r2etl_core.io.files import AtomicFile

    width = 1600
    img = timeline.image(width)
    rows = img.shape[0]
    fig, ax = plt.subplots(figsize=(12, 1.2 + 0.5 * rows), dpi=120)
    seconds = timeline.duration_us / 1e6
    ax.imshow(img, aspect="auto", interpolation="nearest", extent=(0, seconds, rows, 0))
    ax.set_yticks([r + 0.5 for r in range(rows)], (["labels"] if rows == 2 else []) + ["model"])
    ax.set_xlabel("seconds into the recording")
    ax.set_title(title, fontsize=10)
    handles = [Patch(color=np.array(class_rgb(i)) / 255, label=name) for i, name in enumerate(timeline.class_names)]
    handles += [Patch(color=UNKNOWN_HEX, label="? unknown"), Patch(color=UNDECIDED_RGB / 255, label="— nothing")]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.6 / (1 + 0.4 * rows)),
              ncol=min(len(handles), 12), fontsize=8, frameon=False)
    target = AtomicFile(Path(path))
    fig.savefig(target.tmp, format="png", bbox_inches="tight")
    plt.close(fig)
    target.commit()
    return Path(path)
