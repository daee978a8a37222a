"""Rendering candidate peaks on the fit grid: peak widths of the data, the sharp/broad renderer choice
and :func:`render_sticks`, the forward model's profile P of :mod:`pxrdsolve.solve.objective`.

Q in Å⁻¹, 2θ and zero shifts in degrees, sizes τ in Å (PXRDNet's sinc² convention, FWHM 2.7831/τ Å⁻¹).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from pxrdsolve.diffraction.grids import dq_per_two_theta_deg, two_theta_from_q
from pxrdsolve.diffraction.peaks import source_line_sticks
from pxrdsolve.diffraction.profiles import SINC2_FWHM_TIMES_TAU, render_pattern

if TYPE_CHECKING:
    from pxrdsolve.instrument.profile import ProfileTensors
    from pxrdsolve.solve.objective import FitData


def two_theta_and_slope(q_inv_angstrom: float, wavelength_angstrom: float) -> tuple[float, float]:
    """(2θ in degrees, dQ/d2θ in Å⁻¹ per degree) at Q, with Q clamped to sin θ ≤ 0.999 (below
    back-scattering): :func:`~pxrdsolve.diffraction.grids.two_theta_from_q` and
    :func:`~pxrdsolve.diffraction.grids.dq_per_two_theta_deg` as floats."""
    q = min(float(q_inv_angstrom), 0.999 * 4 * math.pi / wavelength_angstrom)
    return float(two_theta_from_q(q, wavelength_angstrom)), float(dq_per_two_theta_deg(q, wavelength_angstrom))


def instrument_fwhm_q(data: FitData, at: str = "max") -> float:
    """Instrument FWHM (Å⁻¹, Gaussian + Lorentzian, no size) at the top (``at="max"``) or bottom of the
    fit range: the legacy fixed width, or the instrument model's width converted with dQ/d2θ."""
    if data.instrument is None:
        return data.instrument_fwhm_q
    two_theta, dq_per_deg = two_theta_and_slope(data.q_range[1] if at == "max" else data.q_range[0],
                                                data.radiation.wavelength_angstrom)
    g, lo = data.instrument.fwhm_deg(two_theta)
    return (g + lo) * dq_per_deg


def peak_fwhm_q(data: FitData, size_angstrom: float) -> float:
    """Approximate peak FWHM (Å⁻¹) for size τ (Å; inf = none) and the data's instrument width, in quadrature."""
    tau = float(size_angstrom)
    return math.hypot(SINC2_FWHM_TIMES_TAU / tau if math.isfinite(tau) else 0.0, instrument_fwhm_q(data))


SHARP_PEAKS_PER_RANGE = 300.0  # peak-by-peak rendering when this many FWHM fit into the fit range


def sharp_peaks(data: FitData, size_angstrom) -> bool:
    """True when the narrowest peaks (size FWHM 2.7831/τ Å⁻¹ with the instrument's narrowest width in
    quadrature) are sharp relative to the fit range: ``SHARP_PEAKS_PER_RANGE`` of them fit in it.  Then
    the windowed peak-by-peak renderer is used (size as a Lorentzian width, Scherrer-style, as Rietveld
    programs do); broad (nanocrystal) peaks keep the exact sinc² of the chunked Fourier renderer."""
    tau = float(torch.as_tensor(size_angstrom, dtype=torch.float64).detach().min())
    size_fwhm = SINC2_FWHM_TIMES_TAU / tau if math.isfinite(tau) else 0.0
    fwhm = math.hypot(size_fwhm, instrument_fwhm_q(data, at="min"))
    return fwhm * SHARP_PEAKS_PER_RANGE < data.q_range[1] - data.q_range[0]


def sharp_crystals(data: FitData, size_angstrom: torch.Tensor) -> torch.Tensor:
    """(B,) bool: :func:`sharp_peaks` for each crystal's size τ (Å, (B,))."""
    tau = size_angstrom.detach()
    size_fwhm = torch.where(torch.isfinite(tau), SINC2_FWHM_TIMES_TAU / tau, torch.zeros_like(tau))
    fwhm = torch.sqrt(size_fwhm**2 + instrument_fwhm_q(data, at="min") ** 2)
    return fwhm * SHARP_PEAKS_PER_RANGE < data.q_range[1] - data.q_range[0]


def stick_pad(data: FitData, size_angstrom: torch.Tensor | float) -> float:
    """Q margin (Å⁻¹) beyond the data range whose peaks still contribute tails."""
    tau = float(torch.as_tensor(size_angstrom).detach().min())
    return max(0.5, 8.0 * peak_fwhm_q(data, tau))


def render_sticks(
    data: FitData,
    q_peak: torch.Tensor,
    f_squared: torch.Tensor,
    peak_crystal: torch.Tensor,
    num_crystals: int,
    size_angstrom: torch.Tensor,
    zero_shift_deg: torch.Tensor | None = None,
    extra_fwhm_q: float = 0.0,
    profile: ProfileTensors | None = None,
) -> torch.Tensor:
    """Profiles (B, G) on the fit grid from peaks at Q (primary-λ positions, Å⁻¹) with Σ|F|² (no LP), as
    densities on the data's own axis (``data.profile_axis``), which is what counts per step of that axis
    follow: per Å⁻¹ for Q data, per degree for 2θ data (× dQ/d2θ = (2π/λ) cos θ · π/180), per Å for d data
    (× |dQ/dd| = 2π/d² = Q²/2π).

    Every source line λ_i adds w_i·|F|²·LP(θ_i) at Q·λ_i/λ₁; the zero shift (2θ degrees, B,)
    moves each stick to 2θ + zero; ``extra_fwhm_q`` (Å⁻¹) widens the instrument (annealing).
    With an instrument (``data.instrument``) the peaks are rendered by the chunked Fourier renderer
    (broad peaks), the windowed peak-by-peak renderer (sharp peaks, :func:`sharp_crystals`) or
    :func:`~pxrdsolve.instrument.profile.render_profile` (``data.exact_profile``), with per-crystal
    ``profile`` parameters (default: the instrument's), the zero shift added to their zero and the
    polarisation of the instrument; those renderers apply the 2θ Jacobian themselves.
    """
    y = _render_q_or_instrument(data, q_peak, f_squared, peak_crystal, num_crystals, size_angstrom,
                                zero_shift_deg, extra_fwhm_q, profile)
    q = data.q_inv_angstrom
    if data.profile_axis == "d":
        return y * (q * q / (2.0 * math.pi))[None, :]
    if data.profile_axis == "two_theta" and data.instrument is None:
        return y * dq_per_two_theta_deg(q, data.radiation.wavelength_angstrom)[None, :]
    return y


def _render_q_or_instrument(data, q_peak, f_squared, peak_crystal, num_crystals, size_angstrom,
                            zero_shift_deg, extra_fwhm_q, profile) -> torch.Tensor:
    """The body of :func:`render_sticks` before the axis Jacobian (same arguments)."""
    rad = data.radiation
    lam1 = rad.wavelength_angstrom
    q_lo, q_hi = data.q_range
    pad = stick_pad(data, size_angstrom)
    q_all, i_all, c_all = source_line_sticks(q_peak, f_squared, peak_crystal, rad)
    if data.instrument is not None:
        axis = "q" if data.profile_axis == "d" else data.profile_axis
        from pxrdsolve.instrument.chunked import render_chunked, render_windowed
        from pxrdsolve.instrument.model import polarisation_ratio
        from pxrdsolve.instrument.profile import ProfileTensors, render_profile

        prof = profile if profile is not None else ProfileTensors.from_instrument(
            data.instrument, num_crystals, device=q_peak.device)
        if zero_shift_deg is not None:
            prof = prof.with_(zero_deg=prof.zero_deg + zero_shift_deg)
        if extra_fwhm_q > 0.0:  # annealing: extra Gaussian width at the top of the range, as W (centideg²)
            dq_per_deg = two_theta_and_slope(q_hi, lam1)[1]
            extra_w = (100.0 * extra_fwhm_q / dq_per_deg) ** 2 / (8 * math.log(2))
            prof = prof.with_(w=prof.w + extra_w)
        i_all = i_all * polarisation_ratio(q_all, lam1, data.instrument.polarisation)
        inside = (q_all.detach() > q_lo - 0.9 * pad) & (q_all.detach() < q_hi + 0.9 * pad)
        q_in, i_in, c_in = q_all[inside], i_all[inside], c_all[inside]
        if data.exact_profile:
            return render_profile(data.q_inv_angstrom, q_in, i_in, c_in, num_crystals, size_angstrom, prof, lam1,
                                  axis=axis)
        tau = torch.as_tensor(size_angstrom, dtype=torch.float64, device=q_peak.device).expand(num_crystals)
        sharp = sharp_crystals(data, tau)

        def windowed(q, i, c, n, t, p):
            return render_windowed(data.q_inv_angstrom, q, i, c, n, t, p, lam1, axis=axis)

        def chunked(q, i, c, n, t, p):
            return render_chunked(data.q_inv_angstrom, q, i, c, n, t, p, lam1, axis=axis,
                                  pad_inv_angstrom=pad, batch_reproducible=False)

        if bool(sharp.all()):
            return windowed(q_in, i_in, c_in, num_crystals, tau, prof)
        if not bool(sharp.any()):
            return chunked(q_in, i_in, c_in, num_crystals, tau, prof)
        # a batch with sharp and broad peaks (e.g. sizes refined apart): each crystal with its renderer
        out = torch.zeros(num_crystals, data.n_points, dtype=torch.float64, device=q_peak.device)
        for mask, render in ((sharp, windowed), (~sharp, chunked)):
            idx = torch.nonzero(mask).squeeze(1)
            new = torch.full((num_crystals,), -1, dtype=torch.long, device=q_peak.device)
            new[idx] = torch.arange(idx.numel(), device=q_peak.device)
            sel = new[c_in] >= 0
            sub = prof.with_(**{k: v[idx] for k, v in prof.tensors().items()})
            out = out.index_copy(0, idx, render(q_in[sel], i_in[sel], new[c_in[sel]], idx.numel(), tau[idx], sub))
        return out
    if zero_shift_deg is not None:  # move each stick to 2θ + zero (primary-λ axis)
        s = (q_all * lam1 / (4 * math.pi)).clamp(max=1.0 - 1e-12)
        half = torch.asin(s) + torch.deg2rad(zero_shift_deg[c_all]) / 2.0
        q_all = 4 * math.pi / lam1 * torch.sin(half.clamp(1e-9, math.pi / 2 - 1e-9))
    inside = (q_all.detach() > q_lo - 0.9 * pad) & (q_all.detach() < q_hi + 0.9 * pad)
    fwhm = math.hypot(data.instrument_fwhm_q, extra_fwhm_q)
    return render_pattern(q_all[inside], i_all[inside], c_all[inside], num_crystals, data.q_inv_angstrom,
                          size_angstrom, fwhm, data.instrument_eta, pad_inv_angstrom=pad, batch_reproducible=False)


def profile_tensors(data: FitData, num_crystals: int, values: dict[str, torch.Tensor] | None = None):
    """The instrument model's per-crystal parameters (None without an instrument), ``values`` replacing some."""
    if data.instrument is None:
        return None
    from pxrdsolve.instrument.profile import ProfileTensors

    base = ProfileTensors.from_instrument(data.instrument, num_crystals)
    return base.with_(**{k: torch.as_tensor(v, dtype=torch.float64) for k, v in (values or {}).items()})


def profile_defaults(data: FitData, name: str, num_crystals: int) -> torch.Tensor:
    """(B,) copies of the data's instrument parameter ``name``."""
    return getattr(profile_tensors(data, num_crystals), name).detach().clone()
