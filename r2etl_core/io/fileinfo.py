"""``r2etl info``: what a recording, sample or model file holds, as a flat dict."""

from __future__ import annotations

from pathlib import Path

from r2etl_core.errors import InputError
from r2etl_core.io.eventfiles import EVENT_FILE_FORMATS, EVENT_FILE_SUFFIXES, is_event_file, open_event_file
from r2etl_core.io.files import check_input_file


def describe(path: str | Path) -> dict:
    if not str(path).strip():  # Path("") is ".", which would be named as a folder
        raise InputError("FILE", "is empty: name a recording (.aedat4, .raw, ...), a .bin sample or a model")
    path = check_input_file(path)
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        return describe_model(path)
    if suffix == ".bin":
        return describe_bin(path)
    if is_event_file(path):
        return describe_recording(path)
    raise InputError(path, f"unknown file type {suffix or '(none)'}: expected an event file "
                           f"({', '.join(EVENT_FILE_SUFFIXES)}), .bin or .safetensors")


def describe_model(path: Path) -> dict:
    """Metadata of a model file whose weights also load: ``info`` vouches for the whole file
    (a model with a good header but truncated or NaN weights is reported, not described)."""
    from r2etl_core.io.modelfile import load_model

    model, meta = load_model(path)
    cfg = meta.config
    s = meta.slicing
    slicing = f"{s.slice_us} us per step" if s.mode == "time" else f"{s.events_per_slice} events per step"
    return {
        "file": str(path), "kind": "r2etl model", "architecture": cfg.arch,
        "width": cfg.width, "input": f"2 x {cfg.input_size} x {cfg.input_size} (channel 0 ON, 1 OFF counts)",
        "time_steps": cfg.time_steps, "parameters": sum(p.numel() for p in model.parameters()),
        "slicing": slicing,
        "trained_on_sensor": f"{s.sensor_width}x{s.sensor_height}",
        "classes": ", ".join(meta.class_names), "training_mode": meta.training.get("mode", "?"),
        "training_data": meta.training.get("data", "?"),
        "metrics": ", ".join(f"{k}={v}" for k, v in meta.metrics.items()) or "-",
        "unknown": _unknown_line(meta),
        "package_version": meta.package_version,
    }


def _unknown_line(meta) -> str:
    detector = meta.unknown_detector()
    if detector is None:
        return "not calibrated: never says 'unknown' (r2etl calibrate MODEL)"
    c = detector.calibration
    return (f"above distance {detector.threshold:.1f} ({c.get('quantile', '?')} quantile of held-out class "
            f"slices; {c.get('data', '?')})")


def describe_bin(path: Path) -> dict:
    from r2etl_core.io.nmnist import read_bin

    ev = read_bin(path)
    return {"file": str(path), "kind": "N-MNIST .bin sample", "resolution": f"{ev.width}x{ev.height}",
            "events": len(ev), "duration_s": round((ev.t_last_us - ev.t_first_us) / 1e6, 6),
            "on_fraction": round(float(ev.p.mean()), 4) if len(ev) else 0.0}


GAP_NOTE_S = 60.0  # a pause longer than this is worth saying: a stopped camera, a bad clock


def _count_events(reader) -> tuple[int, int, int, tuple[int, int]]:
    """(count, first, last timestamp, (longest gap, where it starts)) read batch by batch: never
    the whole file in memory (a damaged .aedat4 raises its InputError after the events before
    the damage)."""
    import numpy as np

    count, first, last, gap = 0, None, 0, (0, 0)
    for batch in reader.batches():
        if not len(batch):
            continue
        t = batch.t if first is None else np.concatenate(([last], batch.t))
        if len(t) > 1:
            steps = np.diff(t)
            i = int(np.argmax(steps))
            gap = max(gap, (int(steps[i]), int(t[i])))
        count, last = count + len(batch), batch.t_last_us
        first = batch.t_first_us if first is None else first
    return count, first or 0, last, gap


def gap_report(longest_us: int, after_us: int) -> dict:
    """The longest stretch without events, and a ``gap`` line when it is longer than
    ``GAP_NOTE_S`` (slicing skips it: at most a few empty slices are classified)."""
    out = {"longest_gap_s": round(longest_us / 1e6, 6)}
    if longest_us > GAP_NOTE_S * 1e6:
        out["gap"] = (f"no events for {longest_us / 1e6:,.1f} s ({longest_us / 86_400e6:.1f} days) after "
                      f"t={after_us} us (a stopped camera or a damaged timestamp?); classify skips it")
    return out


def describe_recording(path: Path) -> dict:
    reader = open_event_file(path)
    try:
        info = reader.info
        count, first, last, gap = _count_events(reader)
    finally:
        reader.close()
    duration = last - first if count else 0
    kind = getattr(info, "format", "") or EVENT_FILE_FORMATS[path.suffix.lower()]
    resolution = f"{info.width}x{info.height}"
    if getattr(info, "size_inferred", False):
        resolution += " (not stated in the file: the smallest known sensor that holds every event)"
    out = {"file": str(path), "kind": f"{kind} recording", "camera": info.camera or "?",
           "resolution": resolution, "events": count,
           "duration_s": round(duration / 1e6, 6), "t_start_us": first,
           "events_per_s": round(count / (duration / 1e6), 1) if duration else 0.0}
    if count > 1:
        out.update(gap_report(*gap))
    from r2etl_core.io.labels import labels_path_for, read_labels

    labels = labels_path_for(path)
    if labels:
        segs = read_labels(labels)
        out["labels"] = f"{labels.name}: {len(segs)} segments, classes {sorted({s.label for s in segs})}"
    return out
