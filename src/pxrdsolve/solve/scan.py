"""The isotropic cell scan of the refinement: every candidate's cell lengths × s over a grid of factors s.

Peaks are computed once per candidate (Q, Σ|F|²) and moved to Q/s for every factor, so a scan of N factors
costs one structure-factor evaluation and N renderings; scale and background are solved linearly at each
factor.  With sharp peaks a scan step could step over the minimum, so the model peaks are widened for the
scan (:func:`scan_broadening`).  Used by :mod:`pxrdsolve.solve.refine` (coarse, then fine for the best) and
the c/a scan (:mod:`pxrdsolve.solve.axial_scan`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from pxrdsolve.crystal import CrystalBatch
from pxrdsolve.diffraction.peaks import compute_peaks
from pxrdsolve.solve.fit_views import fourier_view
from pxrdsolve.solve.objective import FitData, linear_fit
from pxrdsolve.solve.phases import render_extra
from pxrdsolve.solve.render import peak_fwhm_q, render_sticks, stick_pad


@dataclass(frozen=True)
class ScanConfig:
    """Isotropic cell scan: length scale factors from ``min_scale`` to ``max_scale`` (1 included)."""

    min_scale: float = 0.88
    max_scale: float = 1.12
    max_points: int = 31
    min_step: float = 0.002
    min_relative_intensity: float = 1e-3
    fine_scan_candidates: int = 400  # candidates (best coarse χ² first) that get the fine scan
    sharp_max_q_inv_angstrom: float = 5.0  # sharp peaks: candidates are selected on Q ≤ this (Å⁻¹) only
    broad_max_q_inv_angstrom: float = 6.5  # broad peaks: the same on Q ≤ this (Å⁻¹; PXRDNet's grid ends at 5.76)


def scan_scales(data: FitData, tau: float, cfg: ScanConfig, lo: float, hi: float) -> torch.Tensor:
    """Length factors from ``lo`` to ``hi`` with 1 among them, at a step of at least ``cfg.min_step``, 0.4
    relative FWHM at the top of the fit range and (hi − lo)/(``cfg.max_points`` − 1)."""
    fwhm = peak_fwhm_q(data, tau)
    step = max(cfg.min_step, 0.4 * fwhm / data.q_range[1], (hi - lo) / max(cfg.max_points - 1, 1))
    n_lo, n_hi = int(math.floor((1.0 - lo) / step + 1e-9)), int(math.floor((hi - 1.0) / step + 1e-9))
    return torch.arange(-n_lo, n_hi + 1, dtype=torch.float64) * step + 1.0


def scan_broadening(data: FitData, tau: float, step: float) -> float:
    """Extra Gaussian FWHM (Å⁻¹) that makes peaks at least 2.5 relative scan steps wide at the top of
    the fit range, so that a scan with that step cannot step over the minimum: 0 for broad
    (nanocrystal) peaks, the difference in quadrature for sharp ones (bulk, synchrotron)."""
    fwhm = peak_fwhm_q(data, tau)
    needed = 2.5 * step * data.q_range[1]
    return math.sqrt(needed**2 - fwhm**2) if needed > fwhm else 0.0


def volume_scan(
    batch: CrystalBatch, data: FitData, tau: float, scales: torch.Tensor, chunk: int = 48,
    min_relative_intensity: float = 1e-3, extra_fwhm_q: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best isotropic length factor per crystal: (factor (B,), R_wp² at it (B,)).  Q → Q/s per factor;
    peaks weaker than ``min_relative_intensity`` of a crystal's strongest are left out;
    ``extra_fwhm_q`` (Å⁻¹, see :func:`scan_broadening`) widens the model peaks for the scan only."""
    best_s = torch.ones(batch.num_crystals, dtype=torch.float64)
    best_l = torch.full((batch.num_crystals,), math.inf, dtype=torch.float64)
    n_s = scales.numel()
    den = (data.weight * data.intensity**2).sum()
    tau_t = torch.tensor(tau, dtype=torch.float64)
    q_max = (data.q_range[1] + stick_pad(data, tau_t)) * float(scales.max())
    extra_phase = None
    if extra_fwhm_q > 0.0:  # broadened model: the fixed-width Fourier renderer (cheap for many crystals)
        data = fourier_view(data)
    with torch.no_grad():
        for start in range(0, batch.num_crystals, chunk):
            idx = list(range(start, min(start + chunk, batch.num_crystals)))
            peaks = compute_peaks(batch.select(idx), data.radiation.wavelength_angstrom, q_max,
                                  min_relative_intensity=min_relative_intensity)
            rep = torch.arange(n_s).repeat(peaks.q_inv_angstrom.numel())
            q = peaks.q_inv_angstrom.repeat_interleave(n_s) / scales[rep].to(peaks.q_inv_angstrom)
            f2 = peaks.f_squared.repeat_interleave(n_s)
            cidx = peaks.crystal_index.repeat_interleave(n_s) * n_s + rep.to(peaks.crystal_index)
            prof = render_sticks(data, q, f2, cidx, len(idx) * n_s, tau_t, extra_fwhm_q=extra_fwhm_q)
            if extra_phase is None and data.phases is not None:  # the same for every candidate and factor
                extra_phase = render_extra(data, 1, tau_t)
            ext = None if extra_phase is None else extra_phase.expand(len(idx) * n_s, -1, -1)
            loss = (linear_fit(data, prof, ext).chi2 / den).view(len(idx), n_s).cpu()
            val, arg = loss.min(dim=1)
            best_l[idx], best_s[idx] = val, scales[arg]
    return best_s, best_l
