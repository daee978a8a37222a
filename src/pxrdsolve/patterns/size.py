"""Nanocrystal size from peak widths (``--size auto``), in the project's size convention.

Convention: the size τ (Å) is that of PXRDNet's kernel τ·sinc²(τΔQ), whose FWHM in Q is
``SINC2_FWHM_TIMES_TAU`` / τ = 2.783/τ Å⁻¹.  The equivalent Scherrer/Laue column length is D = 2τ.

Method: SNIP background (window 2 × the typical FWHM) is removed; the strongest significant peaks are
fitted with pseudo-Voigts (with Kα2 partners for a doublet source); the instrument FWHM (Å⁻¹) is
removed in quadrature (exact for Gaussians, a stated approximation otherwise); then

* ≥ 3 usable peaks spanning Q_max/Q_min ≥ 1.4: Williamson–Hall in Q, FWHM = 2.783/τ + 2εQ by
  weighted least squares; the intercept gives τ, the slope the apparent strain ε - used when the
  slope is positive and significant (> 2σ), otherwise
* the size-only model: weighted mean FWHM (``mean-fwhm``; ``single-peak`` with one peak).

The uncertainty combines the fit error (scaled by √χ²ᵣ when > 1), the scatter between peaks and a
5 % floor for the pseudo-Voigt-vs-sinc² shape mismatch.
"""

from __future__ import annotations

import math

import numpy as np

from pxrdsolve.errors import InputError
from pxrdsolve.patterns.background import snip_background, snip_window_for_fwhm
from pxrdsolve.patterns.peaks import PeakFit, find_peaks_q, fit_peak, typical_fwhm_q
from pxrdsolve.patterns.types import MeasuredPattern, PeakWidth, SizeEstimate

SINC2_FWHM_TIMES_TAU = 2.7831  # FWHM of sinc²(τΔQ) in ΔQ is 2 × 1.39156 / τ
SHAPE_FLOOR = 0.05


def size_from_fwhm_q(fwhm_q: float) -> float:
    """τ (Å) of the sinc² kernel with this FWHM (Å⁻¹)."""
    return SINC2_FWHM_TIMES_TAU / fwhm_q


def fwhm_q_from_size(size_angstrom: float) -> float:
    """FWHM (Å⁻¹) of the sinc² kernel of size τ (Å)."""
    return SINC2_FWHM_TIMES_TAU / size_angstrom


def _doublet(pattern: MeasuredPattern) -> tuple[float, float] | None:
    rad = pattern.radiation
    if pattern.source_axis != "2theta" or rad is None or not rad.is_doublet:
        return None
    return (rad.weights[1] / rad.weights[0], rad.wavelengths_angstrom[1] / rad.wavelengths_angstrom[0])


def fit_peak_widths(
    q_inv_angstrom: np.ndarray,
    intensity: np.ndarray,
    *,
    doublet: tuple[float, float] | None = None,
    max_peaks: int = 10,
    background: np.ndarray | None = None,
) -> list[PeakFit]:
    """Fitted widths of the strongest peaks of a pattern (background removed by SNIP if not given)."""
    q = np.asarray(q_inv_angstrom, dtype=float)
    y = np.asarray(intensity, dtype=float)
    fwhm0 = typical_fwhm_q(q, y)
    if background is None:
        background = snip_background(q, y, window_q=snip_window_for_fwhm(fwhm0))
    net = y - background
    centres, widths = find_peaks_q(q, net, fwhm0, max_peaks=max_peaks)
    fits = []
    for c, w in zip(centres, widths, strict=True):
        fit = fit_peak(q, net, float(c), centres, float(w), doublet=doublet)
        if fit is not None and not any(abs(fit.q_inv_angstrom - f.q_inv_angstrom) < 0.3 * fit.fwhm_q for f in fits):
            fits.append(fit)
    return fits


def _weighted_line(x: np.ndarray, y: np.ndarray, s: np.ndarray):
    """(a, b, σa, σb, χ²ᵣ) of y = a + b x with errors s."""
    w = 1.0 / s**2
    A = np.stack([np.ones_like(x), x], axis=1)
    cov = np.linalg.inv(A.T @ (A * w[:, None]))
    a, b = cov @ (A.T @ (w * y))
    chi2 = float(np.sum(w * (y - a - b * x) ** 2)) / max(x.size - 2, 1)
    scale = math.sqrt(max(chi2, 1.0))
    return float(a), float(b), math.sqrt(cov[0, 0]) * scale, math.sqrt(cov[1, 1]) * scale, chi2


def size_from_widths(
    peaks_q: np.ndarray, fwhm_size_q: np.ndarray, sigma_q: np.ndarray
) -> tuple[float, float, str, float | None]:
    """(τ Å, σ_τ Å, method, strain or None) from instrument-corrected FWHMs (Å⁻¹) at peaks Q (Å⁻¹)."""
    x, y, s = (np.asarray(v, dtype=float) for v in (peaks_q, fwhm_size_q, sigma_q))
    s = np.maximum(s, 0.02 * y)
    if x.size >= 3 and x.max() / x.min() >= 1.4:
        a, b, sa, sb, _ = _weighted_line(x, y, s)
        if a > 0 and b > 2.0 * sb:
            tau = size_from_fwhm_q(a)
            return tau, tau * math.hypot(sa / a, SHAPE_FLOOR), "williamson-hall", b / 2.0
    w = 1.0 / s**2
    mean = float(np.sum(w * y) / np.sum(w))
    err = math.sqrt(1.0 / float(np.sum(w)))
    if x.size >= 2:
        err = max(err, float(np.std(y, ddof=1)) / math.sqrt(x.size))
    tau = size_from_fwhm_q(mean)
    return (
        tau,
        tau * math.hypot(err / mean, SHAPE_FLOOR),
        ("mean-fwhm" if x.size > 1 else "single-peak"),
        None,
    )


def estimate_size(
    pattern: MeasuredPattern,
    *,
    instrument_fwhm_q: float = 0.0,
    max_peaks: int = 10,
    background: np.ndarray | None = None,
) -> SizeEstimate:
    """Estimate τ (Å) from the peak widths of a measured pattern (see module docstring).

    ``instrument_fwhm_q`` is the instrument's FWHM in Q (Å⁻¹), removed in quadrature; with 0 the
    result is a lower bound of the size.  Raises InputError when no peak can be fitted or all peaks
    are as narrow as the instrument or the data step.
    """
    if instrument_fwhm_q < 0 or not math.isfinite(instrument_fwhm_q):
        raise InputError(f"instrument FWHM {instrument_fwhm_q} Å⁻¹ must be >= 0")
    q, y = pattern.q_inv_angstrom, pattern.intensity
    fits = fit_peak_widths(q, y, doublet=_doublet(pattern), max_peaks=max_peaks, background=background)
    if not fits:
        raise InputError(f"{pattern.path}: cannot estimate the size: no peak could be fitted")
    step = float(np.median(np.diff(q)))
    usable: list[PeakWidth] = []
    sigmas = []
    for f in fits:
        if f.fwhm_q <= 1.05 * instrument_fwhm_q or f.fwhm_q < 3.0 * step:
            continue
        corrected = math.sqrt(f.fwhm_q**2 - instrument_fwhm_q**2)
        usable.append(PeakWidth(f.q_inv_angstrom, f.fwhm_q, corrected, f.height, f.eta))
        sigmas.append(f.fwhm_sigma_q * f.fwhm_q / corrected)
    if not usable:
        narrowest = min(f.fwhm_q for f in fits)
        limit = size_from_fwhm_q(max(narrowest, 1e-12))
        raise InputError(
            f"{pattern.path}: cannot estimate the size: peaks are as narrow as the instrument or the "
            f"data step (FWHM {narrowest:.4g} Å⁻¹, size above ~{limit:.0f} Å)"
        )
    tau, err, method, strain = size_from_widths(
        np.array([p.q_inv_angstrom for p in usable]),
        np.array([p.fwhm_size_q for p in usable]),
        np.array(sigmas),
    )
    return SizeEstimate(
        size_angstrom=tau,
        uncertainty_angstrom=err,
        column_length_angstrom=2.0 * tau,
        method=method,
        n_peaks=len(usable),
        strain=strain,
        instrument_fwhm_q=float(instrument_fwhm_q),
        peaks=tuple(usable),
    )
