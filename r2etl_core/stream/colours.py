"""One colour rule for predictions and labels: the viewer's strip, its whole-recording
timeline and ``r2etl classify --plot`` all colour a slice with these functions.

A slice answered with a class gets the class colour shaded by its confidence; "unknown" (none
of the classes) amber; "nothing there" grey; a slice without events the background. A label
gets its class colour, grey for ``idle`` and amber for ``none``/``unknown`` stretches.
"""

from __future__ import annotations

import numpy as np

from r2etl_core.io.labels import IDLE_LABEL, NEGATIVE_LABELS
from r2etl_core.types import ABSTAIN_UNKNOWN, Prediction

# tab10: distinguishable, and still readable on the dark background
CLASS_RGB = np.array([
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (235, 235, 235), (188, 189, 34), (23, 190, 207),
], np.uint8)
NO_DATA_RGB = np.array([34, 38, 46], np.uint8)
UNDECIDED_RGB = np.array([96, 102, 114], np.uint8)  # "nothing there": a neutral grey, no class colour
UNKNOWN_RGB = np.array([240, 200, 60], np.uint8)  # "unknown" (none of the classes): amber, no class uses it
UNKNOWN_HEX = "#f0c83c"


def class_rgb(index: int) -> tuple[int, int, int]:
    r, g, b = CLASS_RGB[index % len(CLASS_RGB)]
    return int(r), int(g), int(b)


def answer_rgb(pred: Prediction) -> np.ndarray:
    """The colour of what the model said about one slice."""
    if pred.event_count == 0:
        return NO_DATA_RGB
    if pred.decided:
        return (np.array(class_rgb(pred.top_class)) * (0.35 + 0.65 * pred.confidence)).astype(np.uint8)
    return UNKNOWN_RGB if pred.abstain == ABSTAIN_UNKNOWN else UNDECIDED_RGB


def label_rgb(label: str | None, class_names: tuple[str, ...]) -> np.ndarray:
    """The colour of a true label (None: no label there)."""
    if label is None:
        return NO_DATA_RGB
    if label in class_names:
        return np.array(class_rgb(class_names.index(label)), np.uint8)
    if label == IDLE_LABEL:
        return UNDECIDED_RGB
    if label in NEGATIVE_LABELS:
        return UNKNOWN_RGB
    return NO_DATA_RGB
