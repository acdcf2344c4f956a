"""Headless classification of a recording or stream: the viewer's pipeline without the viewer."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

from r2etl_core.errors import R2ETLError, R2ETLWarning
from r2etl_core.io.files import check_output_path
from r2etl_core.io.labels import labels_path_for, outside_events
from r2etl_core.stream.engine import StreamEngine
from r2etl_core.stream.settings import OFFLINE
from r2etl_core.stream.pipeline import OpenedInput, check_labels_fit, core_opener
from r2etl_core.stream.session import LiveSession
from r2etl_core.stream.settings import StreamSettings
from r2etl_core.stream.scoring import score_segments
from r2etl_core.io.labels import NEGATIVE_LABELS
from r2etl_core.types import ABSTAIN_NOTHING, ABSTAIN_UNKNOWN, EngineStats, Prediction, SliceByTime
from r2etl_core.io.predictions import JsonlPredictionWriter
from r2etl_core.limits import DEFAULT_STALL_S



@dataclass(frozen=True)
class ClassifyRequest:
    """What ``r2etl classify`` was asked: the input, the model and the stream settings."""

    input: str
    model: str | Path | None = None
    out: str | Path | None = None
    settings: StreamSettings = StreamSettings()
    device: str | None = None
    stall_s: float = DEFAULT_STALL_S  # network input: give up after this long without data
    force: bool = False  # --out may replace a file that is not a previous prediction log
    plot: str | Path | None = None  # a PNG of every slice's answer along the recording (and the labels)

    def files_read(self) -> tuple[Path, ...]:
        """The files this run reads (the input, its labels sidecar, the model): ``--out`` must
        never name one of them, whatever ``force`` says."""
        from r2etl_core.io.labels import SUFFIX
        from r2etl_core.stream.pipeline import DEFAULT_MODEL_PATH

        path = Path(self.input)
        sidecar = (path.with_name(path.name[: -len(path.suffix)] + SUFFIX),) if path.suffix else ()
        return (path, *sidecar, Path(self.model) if self.model else DEFAULT_MODEL_PATH)


def classify_input(request: ClassifyRequest, progress: bool = False) -> dict:
    """Classify every slice of ``request.input`` (nothing dropped) and summarise. Ctrl+C while
    a stream is still being waited for also ends with a summary, saying what was waited for."""
    started = time.perf_counter()
    if request.out:  # before anything is opened: a wrong --out costs nothing and loses nothing
        check_output_path(request.out, "predictions file (--out)", inputs=request.files_read(),
                          kind="jsonl", force=request.force)
    if request.plot:
        check_output_path(request.plot, "picture (--plot)", inputs=request.files_read(), kind="image",
                          force=request.force)
    session = LiveSession(opener=core_opener(request.stall_s), speed=None, strict_labels=True,
                          engine_config=replace(OFFLINE, device=request.device))
    try:  # the input's errors first
        opened = session.open_input(request.input)
    except KeyboardInterrupt as exc:
        return _nothing_received(request, time.perf_counter() - started, str(exc))
    try:
        session.load_model(request.model)
        if opened.segments:
            check_labels_fit(opened, session.model)
            warn_if_labels_miss(opened)
        writer = JsonlPredictionWriter(request.out) if request.out else None
    except R2ETLError:
        opened.source.close()
        session.close()
        raise
    collected = _Collector(opened, progress)
    session.engine.add_sink(collected)
    if writer:
        session.engine.add_sink(writer)
    session.configure(request.settings)
    engine = session.engine
    t0 = time.perf_counter()
    interrupted = False
    try:
        session.start_input(opened)
        session.wait()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        engine.stop()
        stats = engine.stats()
        session.close()  # closes the sinks: the writer's file, the progress bar
    wall = time.perf_counter() - t0
    if stats.error:
        if writer:
            writer.discard()
        raise R2ETLError(stats.error)
    if writer:
        writer.commit()
    if request.plot:
        _plot(request, opened, session.model, collected.predictions)
    return _summary(request, session.model.path, engine, stats, collected.predictions, wall, interrupted, opened)


class _Collector:
    """Sink keeping every prediction, with an optional progress bar in stream seconds."""

    def __init__(self, opened: OpenedInput, progress: bool):
        info = opened.source.info
        self.predictions: list[Prediction] = []
        self._t0 = info.t_start_us
        self._bar = None
        if progress and info.duration_us:
            from tqdm import tqdm

            self._bar = tqdm(total=round(info.duration_us / 1e6, 2), unit="s", desc="classifying")

    def on_prediction(self, prediction: Prediction, spikes) -> None:
        self.predictions.append(prediction)
        if self._bar is not None and self._t0 is not None:
            self._bar.n = round((prediction.t_end_us - self._t0) / 1e6, 2)
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _plot(request: ClassifyRequest, opened: OpenedInput, model, predictions: list[Prediction]) -> None:
    """The viewer's whole-recording timeline of this run, as a PNG (``--plot``)."""
    from r2etl_core.stream.timeline import Timeline, plot_timeline

    info = opened.source.info
    t0 = info.t_start_us if info.t_start_us is not None else (predictions[0].t_start_us if predictions else 0)
    end = max((p.t_end_us for p in predictions), default=t0 + 1)
    timeline = Timeline.from_predictions(predictions, model.meta.class_names, t0, info.duration_us or end - t0,
                                         opened.segments)
    plot_timeline(timeline, request.plot, f"{Path(request.input).name} - {model.path.name}")


def warn_if_labels_miss(opened: OpenedInput) -> None:
    """A recording's labels that lie outside its events (times from 0 on a recording that
    starts at 1 s) would score 0 over 0 segments without a word: said as training says it."""
    info = opened.source.info
    if info.kind != "file" or info.t_start_us is None or info.duration_us is None:
        return
    problem = outside_events(opened.segments, info.t_start_us, info.t_start_us + info.duration_us)
    if problem:
        sidecar = labels_path_for(opened.spec)
        warnings.warn(R2ETLWarning(f"{sidecar or opened.spec}: {problem}"), stacklevel=2)


def _share(predictions: list[Prediction], *reasons: str) -> float:
    """Fraction of the slices that saw events whose answer was withheld for one of ``reasons``."""
    seen = [p for p in predictions if p.event_count]
    return round(sum(p.abstain in reasons for p in seen) / max(len(seen), 1), 4)


def _nothing_received(request: ClassifyRequest, wall: float, waiting_for: str) -> dict:
    """The summary of a run interrupted before its input produced anything."""
    summary = {"input": str(request.input), "model": str(request.model or "(default)"), "slices": 0,
               "events": 0, "wall_s": round(wall, 3), "interrupted": True}
    if waiting_for:
        summary["input_lost"] = waiting_for
    return summary


def _summary(request: ClassifyRequest, model_path: Path, engine: StreamEngine, stats: EngineStats,
             predictions: list[Prediction], wall: float, interrupted: bool, opened: OpenedInput) -> dict:
    events = sum(p.event_count for p in predictions)
    slicing = engine.slicing
    summary = {
        "input": str(request.input), "model": str(model_path), "device": stats.device,
        "slices": len(predictions), "events": events, "wall_s": round(wall, 3),
        "events_per_s": round(events / wall, 1) if wall > 0 else 0.0,
        "slices_per_s": round(len(predictions) / wall, 1) if wall > 0 else 0.0,
        "dropped": stats.dropped, "model_ms_p50": round(stats.model_ms_p50, 3),
        "model_ms_p99": round(stats.model_ms_p99, 3),
        "slice_us": slicing.slice_us if isinstance(slicing, SliceByTime) else None,
        "reset": engine.reset_policy.kind, "readout": engine.readout.kind,
        "abstained": _share(predictions, ABSTAIN_NOTHING, ABSTAIN_UNKNOWN),
        "abstained_unknown": _share(predictions, ABSTAIN_UNKNOWN),
        "abstained_nothing": _share(predictions, ABSTAIN_NOTHING),
        "unknown_threshold": engine.unknown_threshold,
        "interrupted": interrupted,
    }
    if stats.input_lost:
        summary["input_lost"] = stats.input_lost
    if opened.segments:
        score = score_segments(predictions, opened.segments)
        settle = score.settle_ms_p50
        summary.update(segment_accuracy=round(score.accuracy, 4), segments=score.segments,
                       segments_correct=score.correct, slice_accuracy=round(score.slice_accuracy, 4),
                       settle_ms_p50=None if settle is None else round(settle, 1),
                       abstain_rate=round(score.abstained_in_objects, 4),
                       abstain_unknown_rate=round(score.unknown_in_objects, 4),
                       abstain_nothing_rate=round(score.nothing_in_objects, 4),
                       abstain_rate_idle=round(score.abstained_in_idle, 4))
        if any(str(seg.label) in NEGATIVE_LABELS for seg in opened.segments):
            summary["unknown_rate_in_unknown"] = round(score.unknown_in_unknown, 4)
    if request.out:
        summary["out"] = str(request.out)
    return summary
