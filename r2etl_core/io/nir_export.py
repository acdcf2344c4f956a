"""An r2etl model as a NIR file: the graph of ``r2etl_core.nn.nir_graph``, stamped with the
name and SHA-256 of the model file it came from, written atomically."""

from __future__ import annotations

from pathlib import Path

import nir

from r2etl_core.io.files import atomic_write, file_sha256
from r2etl_core.nn.meta import ModelMeta
from r2etl_core.nn.model import R2ETLNet
from r2etl_core.nn.nir_graph import DEFAULT_DT, build_nir_graph


def model_file_graph(model: R2ETLNet, meta: ModelMeta, model_path: str | Path | None = None,
                     dt: float = DEFAULT_DT) -> nir.NIRGraph:
    """``build_nir_graph`` with ``model_path`` (the file ``model`` was loaded from) named in its metadata."""
    name = Path(model_path).name if model_path else ""
    sha256 = file_sha256(model_path) if model_path and Path(model_path).is_file() else ""
    return build_nir_graph(model, meta, dt, source_model=name, source_sha256=sha256)


def write_graph(graph: nir.NIRGraph, path: str | Path) -> Path:
    """Write ``graph`` atomically: an interrupted write never leaves a half file under ``path``."""
    path = Path(path)
    with atomic_write(path) as tmp:
        nir.write(tmp, graph)
    return path
