"""On-the-fly PXRD simulation of training batches (pure torch, CPU or CUDA).

For every crystal of a batch: a crystallite size τ (Å) drawn log-uniform in [size_min, size_max]
(or τ = inf, no size broadening, for a ``bulk_fraction`` of samples), a Gaussian instrument σ
uniform in [sigma_bins_min, sigma_bins_max] bins of the 4096-point grid, PXRDNet's pipeline to the
512-point input grid (:func:`pxrdsolve.diffraction.pxrdnet.pxrdnet_input_patterns`), additive
N(0, noise_std) noise, and for a ``mask_fraction`` of samples a random Q cut: the pattern and the
measured-Q mask are zeroed above Q_cut ~ U[mask_q_min, full_q_max] Å⁻¹ (lab data with partial
coverage).  The ``toy`` simulator (|F|² with f = Z, Gaussian peaks, no LP) exists for tests and
environments without :mod:`pxrdsolve.diffraction.pxrdnet`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from pxrdsolve.crystal import CrystalBatch
from pxrdsolve.model.config import AugmentConfig
from pxrdsolve.ops.scatter import scatter_sum

if TYPE_CHECKING:
    from pxrdsolve.diffraction.peaks import PeakTable

N_INPUT = 512


@dataclass(frozen=True)
class SimulatedPatterns:
    """Encoder input ``pattern`` (B, 512), measured-Q ``mask`` (B, 512) bool, regressor target ``clean``."""

    pattern: torch.Tensor
    mask: torch.Tensor
    clean: torch.Tensor
    size_angstrom: torch.Tensor  # (B,) τ, inf = bulk
    sigma_bins: torch.Tensor  # (B,)


def input_q(device: torch.device | str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Q (Å⁻¹) of the 512-point model-input grid."""
    from pxrdsolve.diffraction.grids import pxrdnet_input_q

    return torch.as_tensor(pxrdnet_input_q(), device=device, dtype=dtype)


def _uniform(n: int, lo: float, hi: float, device, generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, device=device, generator=generator, dtype=torch.float64)


def _toy_patterns(crystals: CrystalBatch, sigma_bins: torch.Tensor, q_max: float) -> torch.Tensor:
    """Cheap stand-in: |F|² (f = Z) of hkl in [-4, 4]³ as Gaussians on the 512 grid, max-normalised."""
    dev = crystals.lattice.device
    r = torch.arange(-4, 5, device=dev, dtype=torch.float64)
    hkl = torch.cartesian_prod(r, r, r)
    hkl = hkl[(hkl != 0).any(-1)]  # (M, 3)
    lat = crystals.lattice.double()
    recip = torch.linalg.inv(lat).transpose(1, 2)  # rows = reciprocal vectors (no 2π)
    q = 2.0 * math.pi * torch.einsum("mi,bij->bmj", hkl, recip).norm(dim=-1)  # (B, M)
    phase = 2.0 * math.pi * crystals.frac.double() @ hkl.T  # (N, M)
    zf = crystals.atomic_numbers.double().unsqueeze(-1)
    b = crystals.num_crystals
    re = scatter_sum(zf * torch.cos(phase), crystals.batch, b)
    im = scatter_sum(zf * torch.sin(phase), crystals.batch, b)
    inten = re**2 + im**2  # (B, M)
    grid = input_q(dev, torch.float64)
    width = (sigma_bins.double() * (2.0 * math.pi * 2.0 / 1.54184) / 4096.0).view(b, 1, 1)
    prof = torch.exp(-0.5 * ((grid.view(1, 1, -1) - q.unsqueeze(-1)) / width) ** 2)
    pat = (inten.unsqueeze(-1) * prof * (q <= q_max).unsqueeze(-1)).sum(1)
    return (pat / pat.amax(-1, keepdim=True).clamp_min(1e-12)).float()


def simulate_patterns(crystals: CrystalBatch, cfg: AugmentConfig, generator: torch.Generator | None = None,
                      peaks: PeakTable | None = None) -> SimulatedPatterns:
    """Random size/instrument/noise/Q-cut augmentation of one batch (see the module docstring).

    ``peaks``: the batch's precomputed peaks (:class:`~pxrdsolve.training.peak_cache.PeakCache`,
    float64, at ``cfg.wavelength_angstrom`` up to ``cfg.full_q_max``) for the ``pxrdnet`` simulator;
    None computes them here.  Either way the random draws are the same.
    """
    dev = crystals.lattice.device
    b = crystals.num_crystals
    tau = torch.exp(_uniform(b, math.log(cfg.size_min_angstrom), math.log(cfg.size_max_angstrom), dev,
                             generator))
    bulk = torch.rand(b, device=dev, generator=generator, dtype=torch.float64) < cfg.bulk_fraction
    tau = torch.where(bulk, torch.full_like(tau, math.inf), tau)
    sigma_bins = _uniform(b, cfg.sigma_bins_min, cfg.sigma_bins_max, dev, generator)
    if cfg.simulator == "pxrdnet":
        from pxrdsolve.diffraction.peaks import compute_peaks
        from pxrdsolve.diffraction.pxrdnet import pxrdnet_input_patterns

        if peaks is None:
            peaks = compute_peaks(crystals.to(dtype=torch.float64), cfg.wavelength_angstrom, cfg.full_q_max)
        clean = pxrdnet_input_patterns(peaks, b, tau, sigma_bins, noise_std=0.0, generator=generator)
    elif cfg.simulator == "toy":
        clean = _toy_patterns(crystals, sigma_bins, cfg.full_q_max)
    else:
        raise ValueError(f"unknown simulator {cfg.simulator!r}: use pxrdnet or toy")
    clean = clean.float()
    noise = torch.randn(clean.shape, device=dev, generator=generator, dtype=clean.dtype) * cfg.noise_std
    pattern = (clean + noise).clamp(0.0, 1.0)
    q = input_q(dev)
    cut = _uniform(b, cfg.mask_q_min, cfg.full_q_max, dev, generator).float()
    cut_some = torch.rand(b, device=dev, generator=generator, dtype=torch.float64) < cfg.mask_fraction
    q_cut = torch.where(cut_some, cut, torch.full_like(cut, cfg.full_q_max))
    mask = q.unsqueeze(0) <= q_cut.unsqueeze(-1)
    return SimulatedPatterns(pattern * mask, mask, clean, tau, sigma_bins)
