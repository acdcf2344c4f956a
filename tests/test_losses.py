"""R2ETL losses against hand-computed values and the properties CKA must have."""

import math

import pytest
import torch

from r2etl_core.nn.losses import encoding_alignment_loss, feature_alignment_loss, linear_cka, temporal_cka, tet_loss


def test_tet_matches_hand_computed_value():
    logits = torch.tensor([[[0.0, 0.0]], [[1.0, 0.0]]])  # T=2, B=1, K=2
    labels = torch.tensor([0])
    ce = (math.log(2.0) + math.log(1.0 + math.exp(-1.0))) / 2
    mse = 3.0 / 4.0  # three of the four logits are 1 away from the target 1
    expected = (1 - 1e-3) * ce + 1e-3 * mse
    assert tet_loss(logits, labels).item() == pytest.approx(expected, rel=1e-6)


def test_tet_rejects_logits_without_time_axis():
    with pytest.raises(ValueError, match="T, B, K"):
        tet_loss(torch.zeros(4, 10), torch.zeros(4, dtype=torch.long))


def test_cka_matches_hand_computed_value():
    # one feature each: CKA = cos^2 of the centred vectors = 3^2 / (2 * 14/3) = 27/28
    x = torch.tensor([[1.0], [2.0], [3.0]])
    y = torch.tensor([[1.0], [2.0], [4.0]])
    assert linear_cka(x, y).item() == pytest.approx(27 / 28, rel=1e-5)


def test_cka_of_a_matrix_with_itself_is_one():
    x = torch.randn(16, 50, generator=torch.Generator().manual_seed(0))
    assert linear_cka(x, x).item() == pytest.approx(1.0, abs=1e-5)


def test_cka_invariant_to_orthogonal_transform_and_isotropic_scaling():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(20, 8, generator=g), torch.randn(20, 5, generator=g)
    y = y + 0.5 * x[:, :5]  # some shared structure, so CKA is neither 0 nor 1
    q, _ = torch.linalg.qr(torch.randn(8, 8, generator=g))
    base = linear_cka(x, y).item()
    assert 0.05 < base < 0.95
    assert linear_cka(x @ q, y).item() == pytest.approx(base, abs=1e-5)
    assert linear_cka(7.5 * x, 0.01 * y).item() == pytest.approx(base, abs=1e-5)


def test_cka_of_unrelated_features_is_small_and_of_related_is_large():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(64, 4, generator=g)
    unrelated = torch.randn(64, 4, generator=g)
    assert linear_cka(x, unrelated).item() < 0.2
    assert linear_cka(x, x @ torch.randn(4, 6, generator=g)).item() > 0.5


def test_cka_of_identical_rows_is_finite_and_has_finite_gradient():
    x = torch.ones(8, 30, requires_grad=True)
    y = torch.randn(8, 30)
    value = linear_cka(x, y)
    value.backward()
    assert torch.isfinite(value) and value.item() == pytest.approx(0.0, abs=1e-6)
    assert torch.isfinite(x.grad).all()


def test_cka_works_on_wide_features_in_gram_form():
    # D = 64*48*48 (the stem): the feature-space form would need D x D memory
    x = torch.randn(4, 64 * 48 * 48)
    assert linear_cka(x, x).item() == pytest.approx(1.0, abs=1e-4)


def test_temporal_cka_is_the_mean_over_time():
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(3, 10, 6, generator=g), torch.randn(3, 10, 6, generator=g)
    y[1] = x[1]
    expected = sum(linear_cka(x[t], y[t]).item() for t in range(3)) / 3
    assert temporal_cka(x, y).item() == pytest.approx(expected, rel=1e-6)


def test_alignment_losses_use_time_sums_and_per_step_cka():
    g = torch.Generator().manual_seed(4)
    stem = (torch.rand(5, 6, 4, 3, 3, generator=g) > 0.5).float()  # [T, B, C, H, W] spikes
    assert encoding_alignment_loss(stem, stem).item() == pytest.approx(0.0, abs=1e-5)
    other = torch.roll(stem, 1, dims=1)  # same spikes, different samples
    assert encoding_alignment_loss(stem, other).item() > 0.05
    pre = torch.randn(5, 6, 7, generator=g)
    assert feature_alignment_loss(pre, 2.0 * pre).item() == pytest.approx(0.0, abs=1e-5)


def test_cka_stays_float32_under_autocast():
    # stem-sized spike counts: Gram entries (~1e6) would overflow float16 (max 65504)
    x = torch.randint(0, 10, (4, 64 * 48 * 48)).float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = linear_cka(x, x)
    assert value.dtype == torch.float32 and value.item() == pytest.approx(1.0, abs=1e-4)
