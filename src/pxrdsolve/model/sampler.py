"""Annealed Langevin sampling of fractional coordinates with the composition teacher-forced.

Batched over many candidates at once: every candidate has its own latent z, atom types (fixed),
atom count and lattice (from the lattice head unless given).  For each σ_i of the ladder (largest
first) it runs ``steps`` updates x ← (x + α_i s(x, σ_i) + √(2α_i) ε) mod 1 with
α_i = eps·(σ_i/σ_min)² (fractional units²), starting from uniform random coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pxrdsolve.crystal import CrystalBatch
from pxrdsolve.model.geometry import lattice_from_normalized
from pxrdsolve.model.model import PXRDSolveModel


@dataclass(frozen=True)
class LangevinSettings:
    """Sampler knobs; ``None`` means the model's noise config."""

    steps_per_level: int | None = None
    eps: float | None = None
    final_denoise: bool = True  # one noise-free step at the smallest σ at the end


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
    n_total = int(num_atoms.sum())
    x = torch.rand((n_total, 3), device=dev, dtype=dtype, generator=generator)
    sig_min = float(sched.sigmas[-1])
    for level in range(sched.num_levels):
        s = float(sched.sigmas[level])
        alpha = eps * (s / sig_min) ** 2
        sigma = torch.full((z.shape[0],), s, device=dev, dtype=dtype)
        for _ in range(steps):
            score = model.score(z, atomic_numbers, x, lattice, num_atoms, sigma)
            noise = torch.randn(x.shape, device=dev, dtype=dtype, generator=generator)
            x = torch.remainder(x + alpha * score + (2.0 * alpha) ** 0.5 * noise, 1.0)
    if settings.final_denoise:
        sigma = torch.full((z.shape[0],), sig_min, device=dev, dtype=dtype)
        score = model.score(z, atomic_numbers, x, lattice, num_atoms, sigma)
        x = torch.remainder(x + sig_min**2 * score, 1.0)  # Tweedie step to the denoised mean
    x = torch.where(x >= 1.0, torch.zeros_like(x), x)  # remainder can round up to exactly 1.0
    ones = torch.ones(n_total, device=dev, dtype=dtype)
    return CrystalBatch(lattice, x, atomic_numbers, ones, torch.zeros_like(ones), num_atoms)
