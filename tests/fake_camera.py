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


class FakeFrame:
    def __init__(self, timestamp: int, image):
        self.timestamp, self.image = timestamp, image


class FakeDavis(FakeDevice):
    """A DAVIS that also streams grey-level frames: one per event packet, at its first event."""

    def __init__(self, packets: list[EventBatch], frame_value: int = 90, keep_running: bool = False):
        import numpy as np

        super().__init__(packets, "DAVIS346_FAKE", (346, 260))
        self.keep_running = keep_running
        self._frames = [FakeFrame(p.t_first_us, np.full((260, 346), (frame_value + i) % 256, np.uint8))
                        for i, p in enumerate(packets)]

    def isRunning(self):  # noqa: N802
        return self.keep_running or super().isRunning()

    def isFrameStreamAvailable(self):  # noqa: N802
        return True

    def getNextFrame(self):  # noqa: N802
        return self._frames.pop(0) if self._frames else None
