"""Judge "unknown" the way a user meets it: `r2etl classify` (default readout) on digit streams and
on real recordings of other things.

    python scripts/make_continuous_streams.py            # once: runs/streams (validation digits)
    python scripts/compare_unknown.py MODEL [MODEL ...] [--json out.json] [--extra FILE ...]

Per model:
- the continuous digit streams (runs/streams) and the demo: segment accuracy, settle time p50,
  and the share of digit slices answered "unknown" / "nothing there"; idle streams: the share of
  slices answered "nothing there";
- every real non-digit recording in ../shared/data/recordings, in every format r2etl reads (plus
  ``--extra`` files): the share of ACTIVE slices (the activity gate saw more than noise) answered
  "unknown", the target being >= 90% overall and >= 75% per file;
- the per-slice AUROC of the unknown score, digit slices (held-noise1hz, single-noise1hz, mixed)
  against the non-digit files' active slices, and the model file's threshold.
The decision was calibrated on training samples only (r2etl_core/train/calibrate.py): none of
these files took part in it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

if not __package__:  # run as a file, not with -m: import this checkout's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from r2etl_core.io.eventfiles import is_event_file
from r2etl_core.io.modelfile import read_meta
from r2etl_core.stream.classify import ClassifyRequest, classify_input
from r2etl_core.stream.settings import StreamSettings
from scripts.results_json import save_json
from scripts.compare_models import per_sample, stream_samples

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
DIGIT_STREAMS = ["held-noise0hz", "held-noise1hz", "held-noise5hz", "single-noise1hz", "mixed"]
IDLE_STREAMS = ["idle-noise1hz", "idle-noise5hz"]
AUROC_STREAMS = ("held-noise1hz", "single-noise1hz", "mixed")
EMPTY = ("aedat2-header-only.aedat",)  # a header cut short: no events to judge


def run(model: Path, path: Path) -> tuple[dict, list[dict]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "p.jsonl"
        summary = classify_input(ClassifyRequest(str(path), model=model, out=out, settings=StreamSettings()))
        rows = [json.loads(line) for line in out.read_text().splitlines()]
    return summary, rows


def auroc(digits: np.ndarray, others: np.ndarray) -> float:
    """P(a non-digit slice scores above a digit slice), ties counting half."""
    both = np.concatenate([digits, others])
    ranks = both.argsort(kind="stable").argsort() + 1.0
    r = ranks[len(digits):].sum() - len(others) * (len(others) + 1) / 2
    return float(r / (len(digits) * len(others)))


def digit_scores(rows: list[dict], segments_path: Path) -> np.ndarray:
    from r2etl_core.io.labels import IDLE_LABEL, read_labels, segment_index

    segs = read_labels(segments_path)
    keep = []
    for r in rows:
        i = segment_index(segs, (r["t_start_us"] + r["t_end_us"]) // 2)
        if (i is not None and segs[i].label != IDLE_LABEL and r["events"] and r["abstain"] != "no activity"
                and r["unknown_score"] is not None):
            keep.append(r["unknown_score"])
    return np.asarray(keep)


def evaluate(model: Path, streams: Path, others: list[Path]) -> dict:
    res: dict = {"threshold": (read_meta(model).unknown or {}).get("threshold"), "digits": {}, "idle": {},
                 "others": {}}
    digit_sc, other_sc = [], []
    for name in DIGIT_STREAMS + ["nmnist-demo"]:
        path = REPO / "recordings" / "nmnist-demo.aedat4" if name == "nmnist-demo" else streams / f"{name}.aedat4"
        s, rows = run(model, path)
        res["digits"][name] = {k: s.get(k) for k in ("segment_accuracy", "settle_ms_p50", "abstain_unknown_rate",
                                                     "abstain_nothing_rate", "abstain_rate_idle",
                                                     "unknown_rate_in_unknown", "dropped", "model_ms_p50")}
        if name in AUROC_STREAMS:
            digit_sc.append(digit_scores(rows, path.with_name(name + ".labels.csv")))
    for name in IDLE_STREAMS:
        s, rows = run(model, streams / f"{name}.aedat4")
        res["idle"][name] = s.get("abstain_rate_idle")
    for path in others:
        _, rows = run(model, path)
        active = [r for r in rows if r["events"] and r["abstain"] != "no activity"]
        unknown = sum(r["abstain"] == "unknown" for r in active)
        labels = sorted({r["label"] for r in active if r["label"] is not None})
        res["others"][path.name] = {"active": len(active), "slices": len(rows), "unknown": unknown,
                                    "share": unknown / len(active) if active else None, "said": labels}
        other_sc.append(np.asarray([r["unknown_score"] for r in active if r["unknown_score"] is not None]))
    res["val_split"] = per_sample(model, None)
    for name in ("held-noise0hz", "held-noise1hz", "held-noise5hz"):
        res["digits"][name]["eval_same_digits"] = per_sample(model, stream_samples(streams / f"{name}.aedat4"))
    total = sum(v["active"] for v in res["others"].values())
    res["others_share"] = sum(v["unknown"] for v in res["others"].values()) / total if total else None
    d, o = np.concatenate(digit_sc), np.concatenate(other_sc)
    res["auroc"] = auroc(d, o) if len(d) and len(o) else None
    return res


def print_table(model: Path, r: dict) -> None:
    print(f"\n== {model} (validation split {r['val_split']:.2%}, threshold {r['threshold']:.1f}, "
          f"AUROC {r['auroc'] and round(r['auroc'], 4)})")
    for name, v in r["digits"].items():
        print(f"  {name:16s} acc {v['segment_accuracy']:.3f}  settle {v['settle_ms_p50']} ms  "
              f"unknown {v['abstain_unknown_rate']:.1%}  nothing {v['abstain_nothing_rate']:.1%}"
              + (f"  idle->nothing {v['abstain_rate_idle']:.1%}" if name == "mixed" else "")
              + (f"  unknown stretch->unknown {v['unknown_rate_in_unknown']:.1%}"
                 if v.get("unknown_rate_in_unknown") is not None else "")
              + (f"  (eval on the same digits {v['eval_same_digits']:.3f})" if "eval_same_digits" in v else "")
              + f"  dropped {v['dropped']}  step p50 {v['model_ms_p50']} ms")
    for name, v in r["idle"].items():
        print(f"  {name:16s} nothing {v:.1%}")
    for name, v in r["others"].items():
        share = "-" if v["share"] is None else f"{v['share']:.1%}"
        print(f"  {name:34s} unknown {share} of {v['active']} active slices (of {v['slices']}); "
              f"labels said: {v['said']}")
    if r["others_share"] is not None:
        print(f"  all non-digit files: {r['others_share']:.1%} of active slices 'unknown'")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--streams", type=Path, default=REPO / "runs" / "streams")
    ap.add_argument("--extra", type=Path, action="append", default=[], help="another non-digit recording")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if not (SHARED / "recordings").is_dir() or not args.streams.is_dir():
        print(f"needs {SHARED / 'recordings'} and {args.streams} (make_continuous_streams.py)", file=sys.stderr)
        return 2
    others = sorted(p for p in (SHARED / "recordings").iterdir()
                    if is_event_file(p) and p.name not in EMPTY) + args.extra
    results = {}
    for model in args.models:
        results[str(model)] = evaluate(model, args.streams, others)
        print_table(model, results[str(model)])
    save_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
