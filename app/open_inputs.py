"""The viewer's "open an input" actions: a recording, an N-MNIST folder, a camera, a network stream.

A mixin of ``MainWindow``: each action asks with a dialog (``app.dialogs``) and hands the
choice to the session, which opens it in the background.
"""

from __future__ import annotations

from pathlib import Path

from app import dialogs


class OpenInputs:
    """Needs ``self.session``, ``self.recordings_dir``, ``self._last_host``, ``self.show_error``."""

    def open_recording(self) -> None:
        path = dialogs.ask_recording(self, self.recordings_dir)
        if path:
            self.open_dropped(path)

    def open_dropped(self, path: str) -> None:
        self.recordings_dir = str(Path(path).parent)
        self.session.open_input_async(path, Path(path).name)

    def open_nmnist_folder(self) -> None:
        path = dialogs.ask_nmnist_folder(self, self.recordings_dir)
        if path:
            self.session.open_input_async(path, Path(path).name)

    def open_camera(self) -> None:
        self.statusBar().showMessage("looking for event cameras ...")
        self.session.tasks.run(discover_cameras, self._cameras_found,
                               lambda msg: self.show_error(msg), name="r2etl-discover")

    def _cameras_found(self, cameras: list) -> None:
        if not cameras:
            self.show_error("no event camera found (is it plugged in, and readable by this user?)")
            return
        spec = dialogs.ask_camera(self, cameras)
        if spec:
            self.session.open_input_async(spec, spec)

    def open_network(self) -> None:
        spec = dialogs.ask_host_port(self, self._last_host)
        if spec:
            self._last_host = spec
            self.session.open_input_async(spec, spec)


def discover_cameras() -> list:
    from r2etl_core.io.dv import discover_cameras as discover

    return list(discover())
