"""User-facing errors: one line that names the file and the problem."""

from __future__ import annotations

from pathlib import Path


class R2ETLError(Exception):
    """An error whose message is shown to the user as is (CLI: stderr + exit 2; GUI: dialog)."""


class InputError(R2ETLError):
    """A file, folder, camera or stream the user pointed us at cannot be used."""

    def __init__(self, where: str | Path, problem: str):
        self.where = str(where)
        self.problem = problem
        super().__init__(f"{where}: {problem}")


class ModelError(InputError):
    """A model file is corrupt or does not fit what it is asked to do."""


class R2ETLWarning(UserWarning):
    """Something the user should know that does not stop the command (a label clipped to the
    recording, one class only): the CLI shows it as ``r2etl COMMAND: warning: MESSAGE``."""


class NoCameraError(R2ETLError):
    """No event camera is attached (or the requested serial is not among them)."""


def user_message(exc: BaseException) -> str:
    """The one-line message a user sees for ``exc``: ours as is, others as ``Type: first line``."""
    if isinstance(exc, R2ETLError):
        return str(exc)
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
