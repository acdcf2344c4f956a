"""Headless classification of a recording or stream: the viewer's engine without the viewer."""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from r2etl_core.stream.engine import EngineConfig, StreamEngine
from r2etl_core.errors import ModelError, R2ETLError
from r2etl_core.nn.inference import ResetPolicy
from r2etl_core.io.modelfile import DEFAULT_MODEL_PATH, ModelMeta, load_model
from r2etl_core.stream.scoring import score_segments
from r2etl_core.stream.slicing import SliceByTime
from r2etl_core.types import Prediction


class JsonlPredictionWriter:
    """Sink writing one JSON line per prediction to ``<path>.part``; ``commit()`` renames it
    over ``path`` so an interrupted run never replaces a good file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part", dir=self.path.parent)
        self._f = os.fdopen(fd, "w")

    def on_prediction(self, prediction: Prediction, spikes) -> None:
        self._f.write(json.dumps(prediction.to_json()) + "\n")

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()

    def commit(self) -> None:
        self.close()
        os.replace(self._tmp, self.path)

    def discard(self) -> None:
        self.close()
        if os.path.exists(self._tmp):
            os.unlink(self._tmp)


def default_policy(meta: ModelMeta) -> ResetPolicy:
    """Reset after 20 ms without events. Chosen by scoring every policy on the demo
    (scripts/choose_reset_policy.py; numbers in docs/benchmarks.md): silence resets follow the
    natural pauses between gestures/objects, a fixed window only works when it happens to
    match the stimulus period."""
    return ResetPolicy("silence", silence_us=20_000, window_slices=meta.config.time_steps)


def noise_filter_factory(duration_us: int):
    """dv-processing's background-activity filter, one per sensor size (for the engine)."""
    from r2etl_core.io.dv import BackgroundActivityFilter, NoiseFilterParams

    params = NoiseFilterParams(duration_us)
    return lambda width, height: BackgroundActivityFilter(width, height, params)


def check_labels_fit(labels: list, meta: ModelMeta, model_path: Path) -> None:
    unknown = sorted({str(seg.label) for seg in labels} - set(meta.class_names))
    if unknown:
        raise ModelError(model_path, f"model classes {list(meta.class_names)} do not include the "
                                     f"recording's labels {unknown[:5]} (wrong model for this recording?)")


def classify_input(source_spec: str, model_path: str | Path | None = None, out_path: str | None = None,
                   slice_us: int | None = None, policy: ResetPolicy | None = None,
                   device: str | None = None, progress: bool = False,
                   policy_overrides: dict | None = None, denoise_us: int | None = None) -> dict:
    """Classify every slice of ``source_spec``; ``policy`` replaces the default reset policy,
    ``policy_overrides`` (ResetPolicy field -> value) adjusts it."""
    from r2etl_core.io.labels import labels_path_for, read_labels
    from r2etl_core.stream.sources import open_source

    source = open_source(source_spec, speed=None, loop=False)  # the input's errors first
    model_path = Path(model_path) if model_path else DEFAULT_MODEL_PATH
    try:
        model, meta = load_model(model_path)
    except R2ETLError:
        source.close()
        raise
    policy = replace(policy or default_policy(meta), **(policy_overrides or {}))
    labels_file = labels_path_for(source_spec)
    # a labels sidecar wins; N-MNIST folders know their ground truth from the class folders
    labels = read_labels(labels_file) if labels_file else list(getattr(source, "segments", ()))
    if labels:
        try:
            check_labels_fit(labels, meta, model_path)
        except R2ETLError:
            source.close()
            raise
    engine = StreamEngine(model, meta, EngineConfig(drop_when_busy=False, reset=policy, device=device))
    if slice_us:
        engine.set_slicing(SliceByTime(slice_us))
    if denoise_us:
        engine.set_event_filter(noise_filter_factory(denoise_us))
    writer = JsonlPredictionWriter(out_path) if out_path else None
    if writer:
        engine.add_sink(writer)
    predictions: list[Prediction] = []
    bar = None
    if progress and source.info.duration_us:
        from tqdm import tqdm

        bar = tqdm(total=round(source.info.duration_us / 1e6, 2), unit="s", desc="classifying")
    t0 = time.perf_counter()
    interrupted = False
    try:
        engine.start(source)
        while engine.stats().running:
            time.sleep(0.02)
            new = [o.prediction for o in engine.take_outputs()]
            predictions += new
            if bar is not None and new and source.info.t_start_us is not None:
                bar.n = round((new[-1].t_end_us - source.info.t_start_us) / 1e6, 2)
                bar.refresh()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        engine.stop()
        predictions += [o.prediction for o in engine.take_outputs()]
        engine.close()
        if bar is not None:
            bar.close()
    wall = time.perf_counter() - t0
    stats = engine.stats()
    if stats.error:
        if writer:
            writer.discard()
        raise R2ETLError(stats.error)
    if writer:
        writer.commit()
    events = sum(p.event_count for p in predictions)
    summary = {
        "input": str(source_spec), "model": str(model_path), "device": stats.device,
        "slices": len(predictions), "events": events, "wall_s": round(wall, 3),
        "events_per_s": round(events / wall, 1) if wall > 0 else 0.0,
        "slices_per_s": round(len(predictions) / wall, 1) if wall > 0 else 0.0,
        "dropped": stats.dropped, "model_ms_p50": round(stats.model_ms_p50, 3),
        "model_ms_p99": round(stats.model_ms_p99, 3),
        "slice_us": engine.slicing.window_us if isinstance(engine.slicing, SliceByTime) else None,
        "reset": policy.kind, "interrupted": interrupted,
    }
    if labels:
        score = score_segments(predictions, labels)
        summary.update(segment_accuracy=round(score.accuracy, 4), segments=score.segments,
                       segments_correct=score.correct, slice_accuracy=round(score.slice_accuracy, 4))
    if out_path:
        summary["out"] = str(out_path)
    return summary
