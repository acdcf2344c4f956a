"""Stand-ins for dv-processing camera objects, swapped in for ``_discover_devices`` /
``_open_device`` of ``r2etl_core.io.dv.readers`` (no camera is attached on CI)."""

from __future__ import annotations

from r2etl_core.io import dv as dvio
from r2etl_core.types import EventBatch


class FakeDevice:
    """A camera that hands out ``packets`` and is then unplugged (isRunning() turns False)."""

    def __init__(self, packets: list[EventBatch], name: str = "DVXplorer_FAKE01",
                 resolution: tuple[int, int] = (640, 480)):
        self.packets, self.name, self.resolution = list(packets), name, resolution

    def getCameraName(self):  # noqa: N802 - dv's API
        return self.name

    def getEventResolution(self):  # noqa: N802
        return self.resolution

    def isRunning(self):  # noqa: N802
        return bool(self.packets)

    def getNextEventBatch(self):  # noqa: N802
        return dvio.to_event_store(self.packets.pop(0)) if self.packets else None


class Descriptor:
    """What ``dv.io.camera.discover()`` lists."""

    def __init__(self, serial: str = "DXA00042"):
        self.serialNumber = serial
