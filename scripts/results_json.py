"""Where the research scripts write their numbers: one JSON file, its folder made if needed."""

from __future__ import annotations

import json
from pathlib import Path


def save_json(path: Path | None, data) -> None:
    """Write ``data`` to ``path`` (nothing when ``path`` is None, i.e. no ``--json`` given)."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))
