"""The GPU path: a captured CUDA-graph step equals the eager one (skipped without CUDA), and
the GPU check's measurements run (on the CPU here, as a smoke test)."""

import numpy as np
import pytest
import torch

from bench import gpu_check
from r2etl_core.io.modelfile import DEFAULT_MODEL_PATH, load_model

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on this machine)")


@cuda
@pytest.mark.parametrize("copies", [1, 3])
def test_captured_step_equals_eager(copies):
    from r2etl_core.nn.inference import InferenceCore
    from r2etl_core.types import BinnedSlice, EventBatch, EventSlice, Readout

    model, meta = load_model(DEFAULT_MODEL_PATH)
    device = torch.device("cuda")
    readout = Readout("staggered", copies=copies) if copies > 1 else Readout()
    cores = [InferenceCore(load_model(DEFAULT_MODEL_PATH)[0], meta, device, readout=readout, cuda_graph=graph)
             for graph in (False, True)]
    assert cores[1].step_label == "eager"  # captured lazily, on the first step
    torch.manual_seed(0)
    s = meta.config.input_size
    outs = [[], []]
    for i in range(40):
        frame = (torch.rand(2, s, s, device=device) < 0.2).float() * 3
        sl = EventSlice(i * 30_000, (i + 1) * 30_000, EventBatch.empty(s, s))
        for core, out in zip(cores, outs):
            out.append(core.step(BinnedSlice(sl, frame, 0.0, 0.0, 0.0)).prediction.probabilities)
    assert cores[1].step_label == "CUDA graph"
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-4)


def test_gpu_check_measurements_run_on_cpu():
    model, meta = load_model(DEFAULT_MODEL_PATH)
    step = gpu_check.step_latency(model, meta.config, torch.device("cpu"), 2, True, 20)
    assert step["mode"] == "eager" and 0 < step["p50_ms"] <= step["p99_ms"]  # no graph on the CPU
    binning = gpu_check.binning_throughput(torch.device("cpu"), 200_000, 1)
    assert binning["pipeline_events_per_s"] > 0 and binning["bincount_only_events_per_s"] > 0


def test_gpu_check_says_plainly_when_there_is_no_gpu(capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert gpu_check.main([]) == 2
    assert "no CUDA GPU" in capsys.readouterr().out
