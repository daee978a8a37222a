"""The annealed Langevin sampler against an analytic oracle: a wrapped Gaussian target on the torus.

Target N(μ, s²) wrapped onto [0, 1) (s ≪ 1); its σ-perturbed density is the wrapped normal of
variance s² + σ², whose score is known exactly (:func:`~pxrdsolve.model.noise.wrapped_normal_score`).
With that score the sampler must return mean μ and standard deviation s, with many steps per level
and with the 1-2 steps the CPU pair budget leaves (step size rescaled with the step count), where the
unrescaled step (eps set for 100 steps) does not.
"""

from __future__ import annotations

import math

import pytest
import torch

from pxrdsolve.model.noise import geometric_sigmas, wrap_delta, wrapped_normal_score
from pxrdsolve.model.sampler import annealed_langevin, langevin_step_size

MU = 0.3


def _sample(levels: int, steps: int, eps: float, s: float, rescale: bool = True, n: int = 2000,
            reference_steps: int = 100) -> tuple[float, float]:
    """(mean offset from μ, std / s) of n samples of the wrapped N(μ, s²) target."""
    sigmas = geometric_sigmas(0.5, 0.005, levels)
    gen = torch.Generator().manual_seed(0)
    x0 = torch.rand(n, dtype=torch.float64, generator=gen)

    def score(x: torch.Tensor, sigma: float) -> torch.Tensor:
        return wrapped_normal_score(x - MU, torch.tensor(math.hypot(s, sigma), dtype=torch.float64))

    x = annealed_langevin(score, x0, sigmas, steps, eps, reference_steps, rescale=rescale, generator=gen)
    d = wrap_delta(x - MU)
    return float(d.mean()), float(d.std()) / s


@pytest.mark.parametrize("s", [0.02, 0.08])
def test_many_steps_recover_mean_and_variance(s):
    mean, std_ratio = _sample(levels=20, steps=50, eps=2e-5, s=s, reference_steps=50)
    assert abs(mean) < 0.1 * s  # standard error ≈ s / √2000 = 0.022 s
    assert abs(std_ratio - 1.0) < 0.05, std_ratio


@pytest.mark.parametrize("levels,steps", [(30, 2), (50, 1)])
def test_few_steps_with_rescaled_step_recover_mean_and_variance(levels, steps):
    # eps set for 100 steps per level: α = 0.016 σ² per step, α·100 = 1.6 σ² of Langevin time per level
    s = 0.05
    mean, std_ratio = _sample(levels, steps, eps=4e-7, s=s)
    assert abs(mean) < 0.1 * s
    assert abs(std_ratio - 1.0) < 0.12, std_ratio  # measured 1.085 (30×2), 1.087 (50×1)
    # without the rescaling the same budget barely moves the uniform start: measured std 4.3-4.5 s
    _, unscaled = _sample(levels, steps, eps=4e-7, s=s, rescale=False)
    assert unscaled > 2.0, unscaled


def test_step_size_rescaling_and_cap():
    sig_min = 0.005
    base = langevin_step_size(0.05, sig_min, 1e-6, steps=100, reference_steps=100)
    assert math.isclose(base, 1e-6 * 100.0, rel_tol=1e-12)  # eps·(σ/σ_min)²
    # 10× fewer steps → 10× larger step (still under the cap σ² = 2.5e-3)
    assert math.isclose(langevin_step_size(0.05, sig_min, 1e-6, 10, 100), 10 * base, rel_tol=1e-12)
    # 1 step of 100 would be 100× = 1e-2 > σ²: capped at cap·σ²
    assert math.isclose(langevin_step_size(0.05, sig_min, 1e-6, 1, 100), 0.05**2, rel_tol=1e-12)
    assert math.isclose(langevin_step_size(0.05, sig_min, 1e-6, 1, 100, cap=0.5), 0.5 * 0.05**2, rel_tol=1e-12)
    assert math.isclose(langevin_step_size(0.05, sig_min, 1e-6, 1, 100, rescale=False), base, rel_tol=1e-12)
