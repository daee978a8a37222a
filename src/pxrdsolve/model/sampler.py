"""Annealed Langevin sampling of fractional coordinates with the composition teacher-forced.

Batched over many candidates at once: every candidate has its own latent z, atom types (fixed),
atom count and lattice (from the lattice head unless given).  For each σ_i of the ladder (largest
first) it runs T updates x ← (x + α_i s(x, σ_i) + √(2α_i) ε) mod 1, starting from uniform random
coordinates (fractional units; s in 1/fractional units, α in fractional units²).

Step size (Song & Ermon's annealed Langevin, α ∝ σ²), rescaled with the number of steps:
α_i = min(eps · (σ_i/σ_min)² · T_ref/T, cap · σ_i²).  The model's ``eps`` is set for T_ref steps per
level (its ``langevin_steps``); with fewer steps (the CPU pair budget cuts them to 1-2) each step is
proportionally larger so that the Langevin time T·α_i spent at a level stays the same, up to the cap
α_i ≤ cap·σ_i² (cap = 1: a step never overshoots the mean of the level's perturbed density, whose
variance is at least σ_i²).  :func:`annealed_langevin` is the score-agnostic core, tested against
an analytic Gaussian score.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from pxrdsolve.crystal import CrystalBatch
from pxrdsolve.model.geometry import lattice_from_normalized
from pxrdsolve.model.model import PXRDSolveModel

DEFAULT_STEP_CAP = 1.0  # α_i ≤ cap·σ_i²


@dataclass(frozen=True)
class LangevinSettings:
    """Sampler knobs; ``None`` means the model's noise config.

    ``reference_steps``: the steps per level ``eps`` was set for (None = the model's
    ``langevin_steps``); ``step_cap``: α_i ≤ step_cap·σ_i²; ``rescale=False`` keeps α_i = eps·(σ_i/σ_min)²
    whatever the step count (the old behaviour, kept for comparison).
    """

    steps_per_level: int | None = None
    eps: float | None = None
    final_denoise: bool = True  # one noise-free (Tweedie) step at the smallest σ at the end
    reference_steps: int | None = None
    step_cap: float = DEFAULT_STEP_CAP
    rescale: bool = True


def langevin_step_size(sigma: float, sigma_min: float, eps: float, steps: int, reference_steps: int,
                       cap: float = DEFAULT_STEP_CAP, rescale: bool = True) -> float:
    """α (fractional units²) at noise level σ: eps·(σ/σ_min)²·T_ref/T, at most cap·σ² (module docstring)."""
    alpha = eps * (sigma / sigma_min) ** 2
    if rescale:
        alpha = min(alpha * reference_steps / max(steps, 1), cap * sigma**2)
    return float(alpha)


def annealed_langevin(score_fn: Callable[[torch.Tensor, float], torch.Tensor], x0: torch.Tensor,
                      sigmas: torch.Tensor, steps: int, eps: float, reference_steps: int, *,
                      step_cap: float = DEFAULT_STEP_CAP, rescale: bool = True, final_denoise: bool = True,
                      period: float | None = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Annealed Langevin from ``x0`` over ``sigmas`` (largest first) with ``steps`` updates per level.

    ``score_fn(x, σ)`` returns ∇ log p_σ(x) (same shape as x).  ``period``: coordinates are taken
    modulo it (1 for fractional coordinates; None = unbounded, for tests on ℝ).  With
    ``final_denoise`` one Tweedie step x + σ_min²·s(x, σ_min) ends the run (the denoised mean).
    """
    x = x0
    sig_min = float(sigmas[-1])

    def wrap(v: torch.Tensor) -> torch.Tensor:
        return v if period is None else torch.remainder(v, period)

    for s in sigmas.tolist():
        alpha = langevin_step_size(s, sig_min, eps, steps, reference_steps, step_cap, rescale)
        for _ in range(steps):
            noise = torch.randn(x.shape, device=x.device, dtype=x.dtype, generator=generator)
            x = wrap(x + alpha * score_fn(x, s) + (2.0 * alpha) ** 0.5 * noise)
    if final_denoise:
        x = wrap(x + sig_min**2 * score_fn(x, sig_min))
    return x


@torch.no_grad()
def langevin_sample(model: PXRDSolveModel, z: torch.Tensor, atomic_numbers: torch.Tensor,
                    num_atoms: torch.Tensor, lattice: torch.Tensor | None = None,
                    settings: LangevinSettings = LangevinSettings(),
                    generator: torch.Generator | None = None) -> CrystalBatch:
    """Decode latents ``z`` (B, latent) into crystals with the given types (N,) and counts (B,).

    Returns a :class:`CrystalBatch` (float32, occupancy 1, B_iso 0) with coordinates in [0, 1).
    """
    dev = z.device
    dtype = model.decoder.embed.weight.dtype
    z = z.to(dtype)
    num_atoms = num_atoms.to(dev).long()
    atomic_numbers = atomic_numbers.to(dev).long()
    if lattice is None:
        lattice = lattice_from_normalized(model.lattice_head(z, num_atoms), num_atoms)
    lattice = lattice.to(dev, dtype)
    sched = model.schedule
    steps = settings.steps_per_level or sched.langevin_steps
    eps = settings.eps if settings.eps is not None else sched.langevin_eps
    reference = settings.reference_steps or sched.langevin_steps
    n_total = int(num_atoms.sum())
    x0 = torch.rand((n_total, 3), device=dev, dtype=dtype, generator=generator)

    def score_fn(x: torch.Tensor, s: float) -> torch.Tensor:
        sigma = torch.full((z.shape[0],), s, device=dev, dtype=dtype)
        return model.score(z, atomic_numbers, x, lattice, num_atoms, sigma)

    x = annealed_langevin(score_fn, x0, sched.sigmas, steps, eps, reference, step_cap=settings.step_cap,
                          rescale=settings.rescale, final_denoise=settings.final_denoise, generator=generator)
    x = torch.where(x >= 1.0, torch.zeros_like(x), x)  # remainder can round up to exactly 1.0
    ones = torch.ones(n_total, device=dev, dtype=dtype)
    return CrystalBatch(lattice, x, atomic_numbers, ones, torch.zeros_like(ones), num_atoms)
