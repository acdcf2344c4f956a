"""``r2etl doctor``: is this machine ready for a demo? One line per check: ok, warn or fail.

The questions before a live demo are always the same: are the libraries there, is the GPU
used, is the camera seen, can a window open, can recordings be written, is the model file good
and does it run. Missing hardware (no GPU, no camera) is a warning: the viewer still replays
recordings on the CPU. A failure is something that stops the demo.

Whether Qt can open a window is asked of a child Python (``python -c``): the core never imports
Qt, and Qt aborts the whole process when it finds no display, which must not end the doctor.
The child starts first and is collected last, so its start-up overlaps the other checks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable

from r2etl_core.errors import user_message

OK, WARN, FAIL = "ok", "warn", "fail"
QT_PROBE_TIMEOUT_S = 8.0
QT_PROBE = """\
import sys
try:
    import PySide6
    from PySide6 import QtCore
except Exception as exc:
    print("NOQT", type(exc).__name__, exc, flush=True)
    sys.exit(3)
print("QT", PySide6.__version__, QtCore.qVersion(), flush=True)
from PySide6.QtWidgets import QApplication, QWidget
app = QApplication(["r2etl-doctor"])
window = QWidget()
window.show()
app.processEvents()
print("WINDOW", app.platformName(), flush=True)
"""
HEADLESS_PLATFORMS = ("offscreen", "minimal", "vnc")


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok / warn / fail
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status:<4}  {self.name:<13} {self.detail}"
        return f"{text}  -> {self.fix}" if self.fix and self.status != OK else text

    def to_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


def report_text(checks: list[Check]) -> str:
    fails = sum(c.status == FAIL for c in checks)
    warns = sum(c.status == WARN for c in checks)
    verdict = "ready" if not fails else "NOT ready"
    return "\n".join([c.line() for c in checks] + [f"{verdict}: {fails} failed, {warns} warnings"])


def exit_code(checks: list[Check]) -> int:
    return 1 if any(c.status == FAIL for c in checks) else 0


# -- versions, GPU ---------------------------------------------------------------------------

def package_version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def check_torch() -> list[Check]:
    """torch's version and the GPU it would use (no CUDA device is a warning)."""
    try:
        import torch
    except Exception as exc:
        return [Check("torch", FAIL, f"does not import ({user_message(exc)})", "make setup (reinstalls .venv)")]
    from r2etl_core.parse import cuda_available

    checks = [Check("torch", OK, f"{torch.__version__} ({torch.get_num_threads()} CPU threads)")]
    if cuda_available():
        name = torch.cuda.get_device_name(0)
        checks.append(Check("gpu", OK, f"{name} (CUDA {torch.version.cuda}, {torch.cuda.device_count()} device(s))"))
    elif torch.version.cuda:
        checks.append(Check("gpu", WARN, f"CUDA {torch.version.cuda} build, no usable GPU: the model runs on the CPU",
                            "check the NVIDIA driver (nvidia-smi) and CUDA_VISIBLE_DEVICES"))
    else:
        checks.append(Check("gpu", WARN, "CPU-only torch build: the model runs on the CPU",
                            "on a GPU machine install torch==2.13.0 from PyPI (the CUDA build)"))
    return checks


def _check_import(label: str, load, fix: str) -> Check:
    """``label``'s installed version, and whether r2etl's module that imports it loads."""
    version = package_version(label)
    try:
        load()
    except Exception as exc:
        return Check(label, FAIL, f"{version or 'not installed'}: {user_message(exc)}", fix)
    return Check(label, OK, version or "?")


def _load_model_module() -> None:
    from r2etl_core.nn import model  # noqa: F401 (imports spikingjelly's layers)


def _load_dv() -> None:
    import r2etl_core.io.dv  # noqa: F401 (imports dv-processing)


def check_spikingjelly() -> Check:
    return _check_import("spikingjelly", _load_model_module, "make setup (installs spikingjelly==2.0.0 --no-deps)")


def check_dv() -> Check:
    return _check_import("dv-processing", _load_dv, "make setup (reinstalls dv-processing==2.0.4)")


# -- camera, folder --------------------------------------------------------------------------

def discover_cameras() -> list[str]:
    from r2etl_core.io.dv import discover_cameras as discover

    return list(discover())


def check_cameras(discover: Callable[[], list[str]] | None = None) -> Check:
    discover = discover or discover_cameras
    fix = "plug in a DAVIS346/DVXplorer (USB 3) and check the udev rules (dv-processing's docs)"
    try:
        serials = discover()
    except Exception as exc:
        return Check("camera", WARN, f"discovery failed: {user_message(exc)}", fix)
    if not serials:
        return Check("camera", WARN, "no event camera found (recordings still replay)", fix)
    return Check("camera", OK, f"{len(serials)} found: {', '.join(serials)}")


def check_recordings_folder(folder: str | Path) -> Check:
    """Writable means a file can really be made there (root, ACLs and read-only mounts make
    permission bits unreliable)."""
    folder = Path(folder)
    name = "recordings"
    if not folder.exists():
        return Check(name, FAIL, f"{folder} does not exist", f"mkdir -p {folder}, or record elsewhere")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".r2etl-doctor-"):
            pass
    except OSError as exc:
        return Check(name, FAIL, f"cannot write in {folder} ({exc.strerror or type(exc).__name__})",
                     f"make {folder} writable for this user, or record to another folder")
    return Check(name, OK, f"{folder} is writable")


# -- model and one step ----------------------------------------------------------------------

def check_model(path: str | Path | None = None):
    """(Check, LoadedModel or None): the file's sha256, and that it loads and passes the model
    file checks (metadata in range, weights that fit the architecture, all finite)."""
    from r2etl_core.io.files import file_sha256
    from r2etl_core.stream.pipeline import load_model_file

    try:
        loaded = load_model_file(path)
        digest = file_sha256(loaded.path)
    except Exception as exc:
        return Check("model", FAIL, user_message(exc), "restore the file (git checkout r2etl_core/models) "
                                                       "or choose another with --model"), None
    cfg = loaded.model.config
    return Check("model", OK, f"{loaded.path.name} sha256 {digest[:16]} ({cfg.arch}, width {cfg.width:g}, "
                              f"{cfg.num_classes} classes)"), loaded


def check_smoke(loaded, device: str | None = None) -> Check:
    """One single-step forward on the device the engine would pick; finite logits of the right shape."""
    import torch

    from r2etl_core.nn.device import pick_device

    if loaded is None:
        return Check("smoke run", FAIL, "skipped: no usable model", "fix the model check first")
    try:
        dev = pick_device(device)
        model = loaded.model.to(dev)
        model.set_step_mode("s")
        model.reset_state()
        size, k = loaded.meta.config.input_size, loaded.meta.config.num_classes
        frame = torch.ones(1, 2, size, size, device=dev)
        t0 = time.perf_counter()
        with torch.no_grad():
            logits = model(frame)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        ms = (time.perf_counter() - t0) * 1e3
        model.reset_state()
    except Exception as exc:
        return Check("smoke run", FAIL, f"one step failed: {user_message(exc)}", "run r2etl doctor --device cpu")
    if tuple(logits.shape) != (1, k) or not bool(torch.isfinite(logits).all()):
        return Check("smoke run", FAIL, f"one step gave logits of shape {tuple(logits.shape)}, "
                                        f"finite: {bool(torch.isfinite(logits).all())}", "retrain or restore the model")
    return Check("smoke run", OK, f"one step on {dev} in {ms:.1f} ms")


# -- Qt, in a child process ------------------------------------------------------------------

def start_qt_probe(python: str = sys.executable) -> subprocess.Popen:
    return subprocess.Popen([python, "-c", QT_PROBE], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ))


def qt_checks(returncode: int | None, stdout: str, stderr: str, env: dict) -> list[Check]:
    """The Qt version and display lines from the probe's output (``returncode`` None: timed out)."""
    lines = {line.split(" ", 1)[0]: line.split(" ")[1:] for line in stdout.splitlines() if line.strip()}
    reason = (stderr.strip().splitlines() or ["no output"])[-1].strip()
    if "QT" not in lines:
        why = " ".join(lines.get("NOQT", [])) or reason
        return [Check("qt", FAIL, f"PySide6 does not import ({why})", "make setup (reinstalls PySide6-Essentials)"),
                Check("display", FAIL, "no Qt, no window", "fix the qt check first")]
    pyside, qt = (lines["QT"] + ["?", "?"])[:2]
    checks = [Check("qt", OK, f"PySide6 {pyside}, Qt {qt}")]
    if "WINDOW" in lines:
        platform = (lines["WINDOW"] or ["?"])[0]
        if platform in HEADLESS_PLATFORMS:
            checks.append(Check("display", WARN, f"windows open on Qt's {platform} platform: nothing is shown",
                                "unset QT_QPA_PLATFORM on the demo screen"))
        else:
            checks.append(Check("display", OK, f"a window opens (Qt platform {platform})"))
    elif returncode is None:
        checks.append(Check("display", FAIL, f"opening a window did not finish in {QT_PROBE_TIMEOUT_S:g} s",
                            "check the display server (DISPLAY, WAYLAND_DISPLAY)"))
    elif not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY") or env.get("QT_QPA_PLATFORM")):
        checks.append(Check("display", WARN, "no display here: the viewer cannot open a window (headless "
                                             "commands work)", "run on the demo screen, or set DISPLAY"))
    else:
        checks.append(Check("display", FAIL, f"Qt cannot open a window ({reason})",
                            "check DISPLAY/WAYLAND_DISPLAY and the Qt platform plugins (libxcb-cursor0 on X11)"))
    return checks


def finish_qt_probe(probe: subprocess.Popen, timeout_s: float = QT_PROBE_TIMEOUT_S) -> list[Check]:
    try:
        out, err = probe.communicate(timeout=timeout_s)
        code = probe.returncode
    except subprocess.TimeoutExpired:
        probe.kill()
        out, err = probe.communicate()
        code = None
    return qt_checks(code, out, err, dict(os.environ))


# -- all of it -------------------------------------------------------------------------------

def run_checks(recordings: str | Path, model: str | Path | None = None, device: str | None = None,
               display: Callable[[], list[Check]] | None = None) -> list[Check]:
    """Every check, in the order a demo needs them. ``display``: the Qt lines from elsewhere
    (the viewer, which is a running Qt window, says so itself instead of starting a probe)."""
    probe = start_qt_probe() if display is None else None
    try:
        checks = [*check_torch(), check_spikingjelly(), check_dv()]
        nir_version = package_version("nir")
        checks.append(Check("nir", OK, nir_version) if nir_version else
                      Check("nir", WARN, "not installed: r2etl export --nir is unavailable", "make setup"))
        checks.append(check_cameras())
        checks.append(check_recordings_folder(recordings))
        model_check, loaded = check_model(model)
        checks += [model_check, check_smoke(loaded, device)]
    except BaseException:
        if display is None:
            probe.kill()
            probe.communicate()
        raise
    return checks + (display() if display is not None else finish_qt_probe(probe))
