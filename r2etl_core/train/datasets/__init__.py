"""Dataset readers (local folders only, nothing is downloaded), framing, pairing and splits."""

from r2etl_core.train.datasets.events import EventSet, load_event_set, scan_event_folders
from r2etl_core.train.datasets.folders import ClassFiles, match_classes, scan_class_folders
from r2etl_core.train.datasets.frames import FrameParams, events_to_frames
from r2etl_core.train.datasets.images import ImageSet, read_caltech101, read_cifar10, read_mnist
from r2etl_core.train.datasets.splits import HoldoutSplit, shared_nmnist_split, subset_per_class

__all__ = [
    "ClassFiles", "EventSet", "FrameParams", "HoldoutSplit", "ImageSet", "events_to_frames",
    "load_event_set", "match_classes", "read_caltech101", "read_cifar10", "read_mnist",
    "scan_class_folders", "scan_event_folders", "shared_nmnist_split", "subset_per_class",
]
