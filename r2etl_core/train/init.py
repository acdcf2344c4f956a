"""Start training from an existing model: fine-tune it, or reuse its trunk for new classes.

``model.init`` names a model file. Its stems, trunk and bottleneck are copied; the classifier
is copied when the new run has the same classes (in any order: rows are matched by name), and
left freshly initialised when the classes differ — which is how a lab teaches the network its
own classes with few labelled clips. The architecture must match (input size and width);
anything else is a one-line error naming the file.
"""

from __future__ import annotations

from pathlib import Path

import torch

from r2etl_core.errors import ModelError
from r2etl_core.io.modelfile import load_model
from r2etl_core.nn.model import R2ETLNet

CLASSIFIER = "classifier."


def init_from(model: R2ETLNet, path: str | Path, class_names: tuple[str, ...]) -> dict:
    """Copy weights of the model file ``path`` into ``model``; returns what was reused."""
    source, meta = load_model(path)
    mine, theirs = model.config, meta.config
    for field, label in (("input_size", "input size"), ("width", "width"), ("arch", "architecture")):
        if getattr(mine, field) != getattr(theirs, field):
            raise ModelError(path, f"--init model has {label} {getattr(theirs, field)}, this run "
                                   f"{getattr(mine, field)}: start from a model of the same architecture")
    state = source.state_dict()
    target = model.state_dict()
    trunk = {k: v for k, v in state.items() if not k.startswith(CLASSIFIER)}
    target.update(trunk)
    same_classes = set(class_names) == set(meta.class_names)
    if same_classes:
        order = torch.tensor([meta.class_names.index(name) for name in class_names])
        for key in (k for k in state if k.startswith(CLASSIFIER)):
            target[key] = state[key][order]
    model.load_state_dict(target)
    return {"init_from": str(path), "init_classes": list(meta.class_names),
            "reused": "all" if same_classes else "stems, trunk and bottleneck (new classifier)"}
