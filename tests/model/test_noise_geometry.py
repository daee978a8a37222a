"""Noise schedule against analytic values; lattice/pair geometry."""

from __future__ import annotations

import math

import torch

from pxrdsolve.model.config import NoiseConfig
from pxrdsolve.model.geometry import (
    all_pairs,
    fourier_features,
    lattice_from_normalized,
    lattice_from_params,
    lattice_params,
    normalized_lattice_params,
)
from pxrdsolve.model.noise import NoiseSchedule, geometric_sigmas, wrap_delta, wrapped_normal_score


def test_geometric_sigmas_analytic():
    s = geometric_sigmas(10.0, 0.01, 50)
    assert s.shape == (50,)
    assert math.isclose(float(s[0]), 10.0) and math.isclose(float(s[-1]), 0.01, rel_tol=1e-12)
    ratio = s[1:] / s[:-1]
    assert torch.allclose(ratio, torch.full_like(ratio, (0.01 / 10.0) ** (1 / 49)), rtol=1e-12)
    assert math.isclose(float(s[10]), 10.0 * 1e-3 ** (10 / 49), rel_tol=1e-12)


def _log_density(d: torch.Tensor, sigma: float, images: int = 50) -> torch.Tensor:
    k = torch.arange(-images, images + 1, dtype=torch.float64)
    return torch.logsumexp(-((d.unsqueeze(-1) + k) ** 2) / (2 * sigma**2), -1)


def test_wrapped_normal_score_matches_finite_difference():
    d = torch.linspace(-0.49, 0.49, 41, dtype=torch.float64)
    for sigma in (0.5, 0.2, 0.05):
        h = 1e-6
        fd = (_log_density(d + h, sigma) - _log_density(d - h, sigma)) / (2 * h)
        got = wrapped_normal_score(d, torch.full_like(d, sigma), wrap_terms=3)
        assert torch.allclose(got, fd, rtol=1e-5, atol=1e-5), sigma


def test_wrapped_normal_score_small_sigma_is_gaussian_and_periodic():
    d = torch.tensor([0.001, -0.002, 0.0005], dtype=torch.float64)
    sigma = torch.full_like(d, 0.01)
    assert torch.allclose(wrapped_normal_score(d, sigma), -d / 0.01**2, rtol=1e-9)
    assert torch.allclose(wrapped_normal_score(d + 3.0, sigma), wrapped_normal_score(d, sigma), atol=1e-6)
    assert torch.allclose(wrap_delta(torch.tensor([0.7, -0.6, 0.2])), torch.tensor([-0.3, 0.4, 0.2]))


def test_perturb_and_step_size():
    sched = NoiseSchedule.from_config(NoiseConfig(sigma_max=0.5, sigma_min=0.005, num_levels=5,
                                                  langevin_eps=1e-5))
    frac = torch.rand(20000, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sig = torch.full((20000,), 0.01, dtype=torch.float64)
    noisy, target = sched.perturb(frac, sig, torch.Generator().manual_seed(1))
    assert noisy.min() >= 0 and noisy.max() < 1
    # small σ: target σ·score = -ε is standard normal
    assert abs(float(target.std()) - 1.0) < 0.02 and abs(float(target.mean())) < 0.02
    assert math.isclose(sched.step_size(0), 1e-5 * 100.0**2, rel_tol=1e-9)
    assert math.isclose(sched.step_size(4), 1e-5, rel_tol=1e-9)
    # fewer steps than langevin_steps (100): proportionally larger, capped at σ²
    assert math.isclose(sched.step_size(4, steps=50), 2e-5, rel_tol=1e-9)
    assert math.isclose(sched.step_size(4, steps=10), 0.005**2, rel_tol=1e-9)
    assert math.isclose(sched.step_size(0, steps=1), 0.5**2, rel_tol=1e-9)


def test_lattice_params_round_trip():
    params = torch.tensor([[3.0, 4.0, 5.0, 80.0, 95.0, 110.0], [4.2, 4.2, 7.0, 90.0, 90.0, 120.0]],
                          dtype=torch.float64)
    lat = lattice_from_params(params)
    assert torch.allclose(lattice_params(lat), params, atol=1e-9)
    n = torch.tensor([4, 7])
    y = normalized_lattice_params(lat, n)
    assert torch.allclose(lattice_params(lattice_from_normalized(y, n)), params, atol=1e-9)


def test_all_pairs_and_fourier():
    src, dst, crystal = all_pairs(torch.tensor([2, 3]))
    assert src.numel() == 4 + 9
    assert set(zip(dst[:4].tolist(), src[:4].tolist(), strict=True)) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert crystal.tolist() == [0] * 4 + [1] * 9
    assert int(src[4:].min()) == 2 and int(dst[4:].max()) == 4
    d = torch.rand(7, 3, dtype=torch.float64)
    assert torch.allclose(fourier_features(d, 3), fourier_features(d - 2.0, 3), atol=1e-9)
    assert fourier_features(d, 3).shape == (7, 18)
