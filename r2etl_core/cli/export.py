"""``r2etl export MODEL --nir OUT.nir``: the network as a NIR graph, verified before it is kept."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from r2etl_core.errors import InputError
from r2etl_core.limits import NIR_DT_S
from r2etl_core.parse import check_number

DEMO_RECORDING = Path(__file__).resolve().parents[2] / "recordings" / "nmnist-demo.aedat4"

EXPORT_HELP = """\
Write MODEL's event branch as a NIR graph (Neuromorphic Intermediate Representation, read by
snnTorch, Norse, Lava-DL, Rockpool, Spyx, SpiNNaker2 and others): batch norms folded into the
convolutions, every LIF as a NIR LIF (tau = 2 dt, r = 2, v_leak = 0, v_threshold = 1,
v_reset = 0), dt and the slicing (slice length, ON/OFF channels, input size, crop rule) in the
graph's metadata. See docs/export.md for what each consumer makes of it.

By default the export is verified before the file is kept: the file is read back with `nir`,
run by an independent NIR interpreter and by the original network on a recording binned as
the live engine bins it, and logits and spikes are compared slice by slice. A mismatch exits
with status 1 and one line, and OUT is not written.

examples:
  r2etl export r2etl_core/models/nmnist-r2etl.safetensors --nir nmnist.nir
  r2etl export runs/mine/best.safetensors --nir mine.nir --recording my.aedat4 --slices 200
"""


class ExportMismatch(Exception):
    """The re-read graph does not compute what the model computes (the file is not kept)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a model as a NIR graph (for neuromorphic hardware)",
                       description=EXPORT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="model file (.safetensors)")
    p.add_argument("--nir", required=True, metavar="OUT", help="NIR file to write (HDF5, written atomically)")
    p.add_argument("--recording", help=f"recording to verify on (default: {DEMO_RECORDING.name})")
    p.add_argument("--slices", type=float, default=None,
                   help="verify on the first N slices only (default: the whole recording)")
    p.add_argument("--dt", type=float, default=None, metavar="S",
                   help=f"NIR time step per slice in seconds (default {NIR_DT_S:g}, what snnTorch's importer assumes; "
                        "tau is written as 2 dt)")
    p.add_argument("--no-verify", action="store_true", help="write without replaying a recording")
    p.add_argument("--json", action="store_true", help="print the result as one JSON line")
    p.set_defaults(func=cmd_export)


def _recording(args: argparse.Namespace) -> Path:
    path = Path(args.recording) if args.recording else DEMO_RECORDING
    if not path.exists():
        raise InputError(path, "recording to verify on not found (give one with --recording, or --no-verify)")
    return path


def export_nir(model_path: str | Path, out: str | Path, recording: Path | None,
               max_slices: int | None = None, dt: float | None = None) -> dict:
    """Build, write and (with ``recording``) verify; ExportMismatch leaves ``out`` untouched."""
    import nir

    from r2etl_core.io.nir_export import model_file_graph
    from r2etl_core.nn.nir_graph import DEFAULT_DT
    from r2etl_core.stream.nir_check import verify_file
    from r2etl_core.io.files import atomic_write, check_output_path
    from r2etl_core.stream.pipeline import load_model_file

    out = check_output_path(out, "NIR file")
    loaded = load_model_file(model_path)
    graph = model_file_graph(loaded.model, loaded.meta, loaded.path, DEFAULT_DT if dt is None else dt)
    result = {"model": str(loaded.path), "nir": str(out), "nodes": len(graph.nodes),
              "dt": graph.metadata["dt"], "verified": False}
    with atomic_write(out) as tmp:
        nir.write(tmp, graph)
        if recording is not None:
            report = verify_file(tmp, loaded.model, loaded.meta, recording, max_slices)
            result.update(verified=report.ok, recording=str(recording), **report.to_dict())
            if not report.ok:
                raise ExportMismatch(f"the exported graph does not match the model: {report.line()}")
    return result


def cmd_export(args: argparse.Namespace) -> int:
    slices = None if args.slices is None else int(check_number("--slices", args.slices, 1, 10_000_000))
    dt = None if args.dt is None else check_number("--dt", args.dt, 1e-9, 1e3, "s")
    recording = None if args.no_verify else _recording(args)
    try:
        result = export_nir(args.model, args.nir, recording, slices, dt)
    except ExportMismatch as exc:
        print(f"r2etl export: error: {args.nir}: {exc} (not written)", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result))
    elif recording is None:
        print(f"wrote {result['nir']} ({result['nodes']} nodes; not verified)")
    else:
        print(f"wrote {result['nir']} ({result['nodes']} nodes), verified on {recording.name}: "
              f"{result['slices']} slices, max logit difference {result['max_logit_diff']:.3g}, "
              f"top-1 agreement {result['top1_agree']}/{result['slices']}, "
              f"spikes differing {result['spike_mismatches']} of {result['spikes']}, ties {result['ties']}")
    return 0
