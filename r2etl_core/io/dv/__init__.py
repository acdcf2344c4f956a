"""The one package that talks to dv-processing: .aedat4 files, cameras, network streams, writers.

Everything leaving it is our own type (``EventBatch``, ``RecordingInfo``) or one of our errors.
``readers`` reads files and live inputs, ``network`` connects to network streams (never
freezing on a silent peer), ``writers`` writes files (``encode`` makes their bytes) and network
streams and holds the noise filter, ``_common`` converts between dv's EventStore and
``EventBatch``, ``guard`` checks a file packet by packet before dv decodes any of it (dv
freezes on damaged packets).
Each module's docstring lists the dv-processing 2.0.4 facts it works around.

This face re-exports only what the rest of the project uses. Tests that stand in for cameras
patch ``r2etl_core.io.dv.readers`` (``_discover_devices``, ``_open_device``), where they are used.
"""

from __future__ import annotations

from r2etl_core.io.dv._common import from_event_store, to_event_store
from r2etl_core.io.dv.readers import (
    AedatReader,
    LiveReader,
    aedat_header_problem,
    discover_cameras,
    open_camera,
    read_all_events,
    recording_info,
)
from r2etl_core.io.dv.network import DEFAULT_STALL_S, OpeningInterrupted, open_network
from r2etl_core.io.dv.writers import AedatWriter, BackgroundActivityFilter, NetworkEventWriter, NoiseFilterParams

__all__ = [
    "DEFAULT_STALL_S", "AedatReader", "AedatWriter", "BackgroundActivityFilter", "LiveReader",
    "NetworkEventWriter", "NoiseFilterParams", "OpeningInterrupted", "aedat_header_problem",
    "discover_cameras", "from_event_store", "open_camera", "open_network", "read_all_events",
    "recording_info", "to_event_store",
]
