"""Start-up after the command line was parsed: load the model and open the input (exit 2 with
one line on stderr when a command-line choice is unusable), then show the window."""

from __future__ import annotations

import argparse
import signal
import sys
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from app.defaults import DEFAULT_SCREENSHOT_S, DEMO_RECORDING, PROG
from app.session import VIEWER_ENGINE, Session
from app.window import MainWindow
from r2etl_core.errors import R2ETLError
from r2etl_core.stream.pipeline import LoadedModel, OpenedInput, core_opener, load_model_file

SWITCH_INTERVAL_S = 0.0005


def fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


class CommandLineError(Exception):
    """A command-line input is unusable: print the message, exit 2."""


def load_cli_model(args: argparse.Namespace, notes: list[str]) -> LoadedModel | None:
    try:
        return load_model_file(args.model)
    except R2ETLError as exc:
        if args.model:
            raise CommandLineError(str(exc)) from None
        notes.append(f"no default model ({exc}): open one with Model...")
        return None


def open_cli_input(session: Session, spec: str | None, notes: list[str]) -> OpenedInput | None:
    """The command line's input, else the demo recording (its problems are notes, not errors)."""
    if spec is None and not DEMO_RECORDING.exists():
        notes.append(f"demo recording {DEMO_RECORDING} not found: open a recording, camera or stream")
        return None
    try:
        return session.open_input(spec or str(DEMO_RECORDING))
    except R2ETLError as exc:
        if spec is not None:
            raise CommandLineError(str(exc)) from None
        notes.append(f"demo recording unusable: {exc}")
        return None


def build_viewer(args: argparse.Namespace, spec: str | None,
                 session: Session | None = None) -> MainWindow | int:
    """The shown window, or exit code 2 after printing why a command-line input is unusable."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(PROG)
    # the network steps in its own process: the GUI's painting never stalls it (bench/viewer_latency.py)
    session = session or Session(opener=core_opener(getattr(args, "stall_s", None)),
                                 engine_config=replace(VIEWER_ENGINE, model_process=True))
    session.speed, session.loop = args.speed, args.loop
    notes: list[str] = []
    try:
        loaded = load_cli_model(args, notes)
        opened = open_cli_input(session, spec, notes)
    except CommandLineError as exc:
        return fail(str(exc))

    window = MainWindow(session, recordings_dir=DEMO_RECORDING.parent)
    window.transport.show_playback(session.speed, session.loop)
    if loaded is not None:
        session.install_model(loaded)
        if opened is not None:
            session.start_input(opened)
    elif opened is not None:
        opened.source.close()
        session.spec = opened.spec  # starts as soon as a model is loaded
    if notes:
        window.statusBar().showMessage("  |  ".join(notes))
    window.show()
    recover_leftovers(window)
    follow_recording_folders(window)
    return window


def follow_recording_folders(window: MainWindow) -> None:
    """A recording saved outside the recordings folder: what killed recordings left in its
    folder is recovered too, when recording there starts."""
    window.session.recordingChanged.connect(lambda p: p and recover_leftovers(window, Path(p).parent))


def recover_leftovers(window: MainWindow, folder: Path | None = None) -> None:
    """Recordings a killed viewer left unfinished in ``folder`` are saved now, in the background
    (never lost, never blocking the window; a recording still being made is locked and left
    alone); the status bar says what was saved."""
    from r2etl_core.io.recovery import interrupted_in, recover_folder

    folder = window.recordings_dir if folder is None else folder
    if not interrupted_in(folder):
        return

    def report(found: list) -> None:
        if found:
            window.statusBar().showMessage("  |  ".join(r.message for r in found))

    window.session.tasks.run(lambda: recover_folder(folder), report,
                             lambda msg: window.statusBar().showMessage(f"error: {msg}"), name="r2etl-recover")


def run_viewer(args: argparse.Namespace, spec: str | None) -> int:
    # The engine threads and the GUI share one interpreter lock; with the default 5 ms switch
    # interval a model step waits behind a whole paint. 0.5 ms hands the lock over sooner.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    window = build_viewer(args, spec)
    if isinstance(window, int):
        return window
    install_sigint_quit(window)
    install_slot_errors(window)
    result = {"code": 0}
    if args.screenshot or args.quit_after:
        seconds = args.quit_after or DEFAULT_SCREENSHOT_S
        QTimer.singleShot(int(seconds * 1000), lambda: finish(window, args.screenshot, result,
                                                              getattr(args, "stats_json", None)))
    QApplication.instance().exec()
    return result["code"]


def write_stats(window: MainWindow, path: str) -> None:
    """The engine's final statistics, for comparing the viewer with headless runs (written
    atomically: a full disk leaves no half file; the null device is written in place)."""
    import dataclasses
    import json

    from r2etl_core.io.files import atomic_write

    stats = window.session.engine.stats() if window.session.engine is not None else None
    with atomic_write(path) as tmp:
        Path(tmp).write_text(json.dumps(dataclasses.asdict(stats) if stats else {}, default=str))


def finish(window: MainWindow, screenshot: str | None, result: dict, stats_json: str | None = None) -> None:
    """Scripted end: save the picture, close the window (which finishes any recording), quit.
    A failure to write either is one line on stderr and exit 2, and never keeps the viewer open
    (an exception escaping a Qt slot is printed and the slot's work simply stops)."""
    try:
        if screenshot:
            window.refresh()
            path = Path(screenshot)
            if not window.grab().save(str(path)):
                print(f"{PROG}: error: could not write screenshot {path}", file=sys.stderr)
                result["code"] = 1
        if stats_json:
            write_stats(window, stats_json)
    except OSError as exc:
        print(f"{PROG}: error: --stats-json {stats_json}: cannot write ({exc.strerror or exc})",
              file=sys.stderr)
        result["code"] = 2
    except R2ETLError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        result["code"] = 2
    finally:
        window.close()
        QApplication.instance().quit()


def install_slot_errors(window: MainWindow) -> None:
    """An exception escaping a Qt slot (a bug, or an OSError nobody caught) is shown in the
    status bar, not only as a traceback on a terminal the user may not watch; PySide then
    carries on, so timers such as --quit-after still fire. The traceback is still printed:
    it is what a bug report needs."""
    from r2etl_core.errors import user_message

    previous = sys.excepthook

    def hook(kind, exc, tb):
        previous(kind, exc, tb)
        if not issubclass(kind, KeyboardInterrupt):
            window.show_error(user_message(exc), dialog=False)

    sys.excepthook = hook


def install_sigint_quit(window: MainWindow) -> None:
    """Ctrl-C in the terminal closes the window (finishing a recording) instead of being
    swallowed while Qt's event loop runs."""
    signal.signal(signal.SIGINT, lambda *_: window.close())
    heartbeat = QTimer(window)  # gives the interpreter a chance to run signal handlers
    heartbeat.timeout.connect(lambda: None)
    heartbeat.start(200)
