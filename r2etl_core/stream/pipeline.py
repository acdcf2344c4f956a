"""The one way an input is wired to a model: source -> slicer -> engine -> sinks.

``r2etl classify``, the viewer's session and the benchmarks all go through here, so the
slicing, the readout/reset default and the label check cannot differ between them:

    model = load_model_file(path)                       # LoadedModel
    opened = open_input(spec, speed=1.0, loop=False)    # OpenedInput: source + ground truth
    engine = build_pipeline(opened, model, StreamSettings(), EngineConfig(), sinks=[writer])

``StreamSettings`` (``stream.settings``) holds what a user chooses (slice length, reset
policy, readout, noise filter, ROI); ``StreamEngine.configure`` is the one way it changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from r2etl_core.errors import ModelError, R2ETLError
from r2etl_core.io.labels import IDLE_LABEL, NEGATIVE_LABELS, labels_path_for, read_labels
from r2etl_core.io.modelfile import DEFAULT_MODEL_PATH, load_model
from r2etl_core.nn.meta import ModelMeta
from r2etl_core.nn.model import R2ETLNet
from r2etl_core.protocols import LabelledSpan, Sink, Source
from r2etl_core.stream.engine import StreamEngine
from r2etl_core.stream.settings import EngineConfig, StreamSettings


@dataclass(frozen=True)
class LoadedModel:
    path: Path
    model: R2ETLNet
    meta: ModelMeta


def load_model_file(path: str | Path | None = None) -> LoadedModel:
    """A model file (default: the bundled N-MNIST model); ModelError with one line if unusable."""
    path = Path(path) if path else DEFAULT_MODEL_PATH
    return LoadedModel(path, *load_model(path))


@dataclass(frozen=True)
class OpenedInput:
    spec: str
    source: Source
    segments: tuple = ()  # ground truth: the labels sidecar, or what the source carries
    warning: str = ""  # e.g. an unreadable labels sidecar when not strict: the input still plays


SourceOpener = Callable[[str, "float | None", bool], Source]


def open_with_core(spec: str, speed: float | None, loop: bool) -> Source:
    """A path, ``camera[:SERIAL]`` or ``HOST:PORT`` opened with r2etl_core's sources."""
    from r2etl_core.stream.sources import open_source

    return open_source(spec, speed=speed, loop=loop)


def core_opener(stall_s: float | None) -> SourceOpener:
    """``open_with_core`` whose network streams give up after ``stall_s`` seconds without data
    (None: the default)."""
    if stall_s is None:
        return open_with_core

    def open_it(spec: str, speed: float | None, loop: bool) -> Source:
        from r2etl_core.stream.sources import open_source

        return open_source(spec, speed=speed, loop=loop, stall_s=stall_s)
    return open_it


def read_sidecar(spec: str) -> list:
    """Segments of a recording's ``<name>.labels.csv`` sidecar (empty without one)."""
    sidecar = labels_path_for(spec)
    return list(read_labels(sidecar)) if sidecar else []


def open_input(spec: str, speed: float | None = 1.0, loop: bool = False, strict_labels: bool = True,
               opener: SourceOpener = open_with_core,
               segment_reader: Callable[[str], list] = read_sidecar) -> OpenedInput:
    """Open ``spec`` and its ground truth (blocking: a camera or a connection takes seconds).
    A bad labels sidecar is an error when ``strict_labels``, else a warning on the input."""
    source = opener(spec, speed, loop)
    try:
        segments = tuple(segment_reader(spec)) or tuple(source.segments)
        return OpenedInput(spec, source, segments)
    except R2ETLError as exc:
        if strict_labels:
            source.close()
            raise
        return OpenedInput(spec, source, tuple(source.segments), f"labels ignored: {exc}")
    except BaseException:
        source.close()
        raise


def labels_problem(segments: Sequence[LabelledSpan], model: LoadedModel) -> str | None:
    """Why a recording's labels cannot be scored with ``model`` (None when they can)."""
    known = {*model.meta.class_names, IDLE_LABEL, *NEGATIVE_LABELS}
    unknown = sorted({str(seg.label) for seg in segments} - known)
    if not unknown:
        return None
    return (f"model classes {list(model.meta.class_names)} do not include the recording's labels "
            f"{unknown[:5]} (wrong model for this recording?)")


def check_labels_fit(opened: OpenedInput, model: LoadedModel) -> None:
    problem = labels_problem(opened.segments, model)
    if problem:
        raise ModelError(model.path, problem)


def build_engine(model: LoadedModel, config: EngineConfig = EngineConfig(),
                 settings: StreamSettings = StreamSettings()) -> StreamEngine:
    """The engine for ``model`` (moves the weights to the device: seconds on a GPU)."""
    return StreamEngine(model.model, model.meta, config, model_path=model.path, settings=settings)


def build_pipeline(opened: OpenedInput, model: LoadedModel, settings: StreamSettings = StreamSettings(),
                   config: EngineConfig = EngineConfig(), engine: StreamEngine | None = None,
                   sinks: Iterable[Sink] = ()) -> StreamEngine:
    """A running engine streaming ``opened`` through ``model`` into ``sinks``. ``engine``: reuse
    one built earlier for this model (the viewer builds it off the GUI thread)."""
    engine = engine or build_engine(model, config, settings)
    engine.stop()
    engine.configure(settings)
    for sink in sinks:
        engine.add_sink(sink)
    engine.start(opened.source)
    return engine
