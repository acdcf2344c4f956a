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


# ---------------------------------------------------------------- random-phase windows

def _fine_and_coarse(seed: int = 0):
    from scripts.synthetic_events import random_events
    from r2etl_core.train.datasets.frames import FrameParams, events_to_frames

    events = random_events(5_000, 34, 34, duration_us=300_000, seed=seed)
    coarse = events_to_frames(events, FrameParams(time_steps=10, slice_us=30_000))
    fine = events_to_frames(events, FrameParams(time_steps=30, slice_us=10_000))
    return torch.from_numpy(fine)[None], torch.from_numpy(coarse)[None]


def test_windows_at_phase_zero_are_the_model_slices():
    from r2etl_core.train.datasets.pairing import random_offset_windows

    fine, coarse = _fine_and_coarse()
    out = random_offset_windows(fine, torch.Generator().manual_seed(0), 3, share=0.0)
    assert torch.equal(out, coarse)


def test_a_random_phase_rolls_the_held_sample_by_whole_fine_slices():
    from r2etl_core.train.datasets.pairing import random_offset_windows

    fine, coarse = _fine_and_coarse()
    batch = fine.expand(64, *fine.shape[1:]).contiguous()
    out = random_offset_windows(batch, torch.Generator().manual_seed(1), 3, share=1.0)
    assert out.shape == (64, 10, 2, 34, 34)
    # every window holds all the sample's events (the sample repeats), at some phase
    assert torch.equal(out.sum(dim=(1, 2, 3, 4)), torch.full((64,), float(coarse.sum())))
    phases = set()
    for w in out:
        match = [k for k in range(30) if torch.equal(w, torch.roll(fine[0], -k, 0).view(10, 3, 2, 34, 34).sum(1))]
        assert match, "a window is not the held sample at a fine-slice phase"
        phases.add(match[0])
    assert len(phases) > 10 and any(k % 3 for k in phases)  # off the model's slice grid too
    # phase 3 (one whole slice) is the model's own slices moved by one
    assert torch.equal(torch.roll(fine[0], -3, 0).view(10, 3, 2, 34, 34).sum(1), torch.roll(coarse[0], -1, 0))


def test_share_sets_how_many_windows_move():
    from r2etl_core.train.datasets.pairing import random_offset_windows

    fine, coarse = _fine_and_coarse()
    batch = fine.expand(400, *fine.shape[1:]).contiguous()
    out = random_offset_windows(batch, torch.Generator().manual_seed(2), 3, share=0.5)
    unmoved = sum(bool(torch.equal(w, coarse[0])) for w in out)
    assert 150 < unmoved < 250  # ~half start at the sample's start (plus 1/30 of the moved ones)
