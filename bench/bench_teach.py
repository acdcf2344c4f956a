"""Teach in the viewer, timed: from Train to a swapped-in model, and what the stream dropped.

    QT_QPA_PLATFORM=offscreen python -m bench.bench_teach [--classes 4] [--seconds 20] [--json]

The real viewer (``MainWindow``, offscreen) replays the demo at 1x in a loop with the shipped
model in its own process, as at a demo. Labelled clips of ``--classes`` synthetic classes,
``--seconds`` of labelled time each, are written to a temporary folder; the Teach panel
trains on them with no flag (sized from the data), and "Use it" switches the model in while
the stream plays. Reported: seconds from Train to the new model running, held-out accuracy,
slices the stream dropped before training (the baseline, same length of time) and while
training, and the time the whole-recording timeline of the demo (20.5 s) took to appear.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if not __package__:  # run as a file: import this checkout
    sys.path.insert(0, str(REPO))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def wait(app, until, timeout_s: float) -> float:
    t0 = time.monotonic()
    while not until():
        if time.monotonic() - t0 > timeout_s:
            raise SystemExit(f"timed out after {timeout_s:.0f} s")
        app.processEvents()
        time.sleep(0.02)
    return time.monotonic() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--classes", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=20.0, help="labelled seconds per class")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--timeline-only", action="store_true", help="only time the demo's timeline")
    args = ap.parse_args(argv)

    from dataclasses import replace

    from PySide6.QtWidgets import QApplication

    from app.session import VIEWER_ENGINE, Session
    from app.teach import labelled_recordings
    from app.window import MainWindow
    from r2etl_core.stream.pipeline import load_model_file
    from scripts.synthetic_sets import write_labelled_recordings

    app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp(prefix="r2etl-teach-"))
    names = tuple(f"thing{k}" for k in range(args.classes))
    clips = write_labelled_recordings(tmp / "clips", per_class=max(2, round(args.seconds / 0.45)), class_names=names,
                                      per_recording=len(names) * 4)
    os.environ["R2ETL_RUNS"] = str(tmp / "runs")
    session = Session(engine_config=replace(VIEWER_ENGINE, model_process=True))
    session.loop = True
    window = MainWindow(session)
    window.show()
    session.install_model(load_model_file())
    t0 = time.monotonic()
    session.start_input(session.open_input(str(REPO / "recordings" / "nmnist-demo.aedat4")))
    # from opening, including the 0.6 s the settings must be still for and the display ticks
    timeline_s = wait(app, lambda: window.timeline.timeline is not None, 120)

    if args.timeline_only:
        window.close()
        print(json.dumps({"timeline_demo_s": round(timeline_s, 2), "load_avg": os.getloadavg()}))
        return 0
    window.open_teach()
    panel = window.teach_panel
    panel.extra_recordings = labelled_recordings(clips)
    panel.left_out.add((REPO / "recordings" / "nmnist-demo.aedat4").resolve())  # the digits playing: not taught
    panel.refresh()
    material = {panel.table.item(r, 0).text(): float(panel.table.item(r, 1).text())
                for r in range(panel.table.rowCount())}
    base_window_s = 30.0
    dropped0 = session.engine.stats().dropped
    wait(app, lambda: time.monotonic() - t0 >= base_window_s, base_window_s + 5)
    dropped_before = session.engine.stats().dropped - dropped0
    slices_before = session.engine.stats().slices_done

    start = time.monotonic()
    dropped1 = session.engine.stats().dropped
    panel.train_button.click()
    wait(app, lambda: panel.run.progress.done, 900)
    trained_s = time.monotonic() - start
    dropped_training = session.engine.stats().dropped - dropped1
    slices_training = session.engine.stats().slices_done - slices_before
    if panel.run.progress.failed:
        raise SystemExit(f"training failed: {panel.run.progress.failed}")
    panel.use_button.click()
    wait(app, lambda: session.model_path == panel.trained and session.engine is not None
         and session.engine.stats().slices_done > 0, 120)
    swapped_s = time.monotonic() - start
    from r2etl_core.train.teach import run_summary

    s = run_summary(panel.trained)
    result = {"classes": args.classes, "labelled_s_per_class": material, "train_s": round(trained_s, 1),
              "train_to_swapped_s": round(swapped_s, 1), "steps": s.steps, "held_out_accuracy": s.val_accuracy,
              "per_class": s.per_class, "dropped_before_training": dropped_before,
              "baseline_window_s": base_window_s, "dropped_while_training": dropped_training,
              "slices_while_training": slices_training, "timeline_demo_s": round(timeline_s, 2),
              "cpus": os.cpu_count(), "load_avg": os.getloadavg()}
    window.close()
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
