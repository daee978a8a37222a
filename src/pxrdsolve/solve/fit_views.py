"""Cheaper views of the fit data for the passes that do not need the full model.

The refinement evaluates hundreds of candidates many times.  Candidate selection (volume scans) and
the annealed start of the gradient refinement compare *broadened* models with the data, so they need
neither every point of a long scan of sharp peaks nor the angle-dependent instrument profile:

* :func:`coarsen`: consecutive points averaged so that a few remain per peak width (weights added, so
  χ² keeps its scale);
* :func:`fourier_view`: the instrument model replaced by the fixed-width Fourier renderer at the
  instrument's Thompson–Cox–Hastings width and η at mid-range (Q units), whose cost does not grow with
  the number of points;
* :func:`scan_data`: what the volume scans see (for sharp peaks, only Q ≤ ``max_q_inv_angstrom``: the
  low-angle peaks fix the cell and tell candidates apart, and the number of reflections grows as Q³).

The results (final χ², R_wp, the verdict) always come from the full data and the full model.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch

from pxrdsolve.solve.objective import FitData
from pxrdsolve.solve.render import sharp_peaks, two_theta_and_slope


def coarsen(data: FitData, fwhm_q: float, points_per_fwhm: float = 3.0) -> FitData:
    """The data averaged in groups of consecutive points so that about ``points_per_fwhm`` remain per
    ``fwhm_q`` (Å⁻¹; weights added, so χ² keeps its scale); unchanged when already that coarse."""
    q = data.q_inv_angstrom
    if q.numel() < 200:
        return data
    step = float((q[-1] - q[0]) / (q.numel() - 1))
    k = int(fwhm_q / points_per_fwhm / max(step, 1e-12))
    k = min(k, q.numel() // 100)
    if k < 2:
        return data
    n = (q.numel() // k) * k

    def mean(t: torch.Tensor) -> torch.Tensor:
        return t[:n].reshape(n // k, k, *t.shape[1:]).mean(1)

    w = data.weight[:n].reshape(-1, k).sum(1)
    yw = (data.weight * data.intensity)[:n].reshape(-1, k).sum(1) / w.clamp_min(1e-300)
    return replace(data, q_inv_angstrom=mean(q), intensity=yw, weight=w, basis=mean(data.basis),
                   two_theta_deg=None if data.two_theta_deg is None else mean(data.two_theta_deg))


def fourier_view(data: FitData) -> FitData:
    """The data with the instrument model replaced by the fixed-width Fourier renderer: Gaussian and
    Lorentzian widths of the instrument at mid-range combined by TCH into one pseudo-Voigt (FWHM in Å⁻¹, η);
    zero shift, displacement and asymmetry are left out.  Unchanged without an instrument."""
    if data.instrument is None:
        return data
    from pxrdsolve.instrument.kernels import tch_mix

    two_theta, dq_per_deg = two_theta_and_slope(0.5 * (data.q_range[0] + data.q_range[1]),
                                                data.radiation.wavelength_angstrom)
    g, lo = data.instrument.fwhm_deg(two_theta)
    fw, eta = tch_mix(torch.tensor(g), torch.tensor(lo))
    return replace(data, instrument=None, instrument_fwhm_q=float(fw) * dq_per_deg,
                   instrument_eta=float(eta.clamp(0.0, 1.0)))


def truncate_q(data: FitData, q_max_inv_angstrom: float, min_points: int = 200) -> FitData:
    """The points with Q ≤ ``q_max_inv_angstrom`` (Å⁻¹); unchanged when fewer than ``min_points`` would remain."""
    keep = data.q_inv_angstrom <= q_max_inv_angstrom
    if int(keep.sum()) < min_points or bool(keep.all()):
        return data
    return replace(data, q_inv_angstrom=data.q_inv_angstrom[keep], intensity=data.intensity[keep],
                   weight=data.weight[keep], basis=data.basis[keep],
                   two_theta_deg=None if data.two_theta_deg is None else data.two_theta_deg[keep])


def scan_data(data: FitData, size_angstrom: float = math.inf, sharp_max_q_inv_angstrom: float = 5.0,
              broad_max_q_inv_angstrom: float = 6.5) -> FitData:
    """The data as the candidate-selection passes see them: with an instrument model and broad peaks,
    :func:`fourier_view` on Q ≤ ``broad_max_q_inv_angstrom``; sharp peaks keep the (windowed, peak-by-peak)
    instrument model, which is cheaper there, on Q ≤ ``sharp_max_q_inv_angstrom`` only.  Reflections grow as
    Q³ while the low-angle peaks fix the cell, so long scans (Mo, synchrotron) select candidates on their
    low-Q part; the refinement sees every point.  The volume scans themselves broaden the model (see
    :func:`pxrdsolve.solve.scan.volume_scan`) and then always use :func:`fourier_view`."""
    if sharp_peaks(data, size_angstrom):
        return truncate_q(data, sharp_max_q_inv_angstrom)
    data = truncate_q(data, broad_max_q_inv_angstrom)
    if data.instrument is None:
        return data
    return fourier_view(data)
