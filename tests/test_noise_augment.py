"""Background-noise augmentation for training: what a never-silent camera adds to every frame."""

import torch

from r2etl_core.train.datasets.pairing import add_background_noise


def test_noise_matches_the_requested_rate_on_average_and_varies_per_sample():
    frames = torch.zeros(400, 10, 2, 34, 34)
    out = add_background_noise(frames, torch.Generator().manual_seed(0), 4.0, 0.03)
    per_sample = out.mean(dim=(1, 2, 3, 4))
    # rates uniform in [0, 4] Hz: mean count per pixel per polarity = 2 Hz * 0.03 s / 2
    assert abs(per_sample.mean().item() - 0.03) < 0.003
    assert per_sample.min() < 0.01 < 0.05 < per_sample.max()
    assert (out[:, :, 0].mean() - out[:, :, 1].mean()).abs() < 0.002  # ON and OFF alike
    assert torch.equal(out, out.round())  # counts


def test_no_noise_leaves_frames_untouched():
    frames = torch.rand(2, 3, 2, 8, 8)
    assert add_background_noise(frames, torch.Generator(), 0.0, 0.03) is frames
