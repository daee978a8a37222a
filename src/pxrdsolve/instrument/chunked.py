"""Fast instrument-model rendering for the refinement: angle-dependent widths by chunks of the Fourier renderer.

:func:`~pxrdsolve.instrument.profile.render_profile` evaluates every peak exactly (TCH ⊗ FCJ ⊗ sinc²); for
nanocrystals, whose peaks cover the whole pattern, that costs ~20× the fixed-width Fourier renderer
(:func:`pxrdsolve.diffraction.profiles.render_pattern`).  The refinement evaluates hundreds of candidates
many times, so it uses this approximation:

* the 2θ range is cut into K chunks (about one per ``chunk_deg`` degrees, at most ``max_chunks``); in each,
  the instrument's Gaussian (Caglioti U, V, W) and Lorentzian (X/cosθ + Y tanθ + Z, microstrain) widths at
  the chunk centre are combined by Thompson–Cox–Hastings into one pseudo-Voigt (Γ, η), converted to Q with
  dQ/d2θ = (2π/λ)·cosθ·π/180 and convolved exactly with the sinc² size kernel (PXRDNet's τ) by the Fourier
  renderer;
* the chunk renderings are blended with piecewise-linear weights between chunk centres (a partition of
  unity), so widths vary continuously with angle;
* zero shift and sample displacement move every stick exactly (Δ2θ = Zero − (0.36/π)(s/R)cosθ degrees);
* the FCJ axial asymmetry is reduced to its centroid shift of each peak (the shape asymmetry is kept only
  by the exact renderer);
* ``axis="two_theta"``: the density per Å⁻¹ is multiplied by dQ/d2θ at each point: a density per degree 2θ,
  what counts per 2θ step follow.
"""

from __future__ import annotations

import math

import torch

from pxrdsolve.diffraction.grids import dq_per_two_theta_deg
from pxrdsolve.diffraction.profiles import SINC2_FWHM_TIMES_TAU, render_pattern
from pxrdsolve.instrument.kernels import tch_mix

_EIGHT_LN2 = 8.0 * math.log(2.0)


def _widths_deg(p: dict[str, torch.Tensor], theta_rad: torch.Tensor):
    """Gaussian and Lorentzian FWHM (degrees 2θ) at Bragg angles θ; ``p`` the profile fields, each
    broadcastable against ``theta_rad`` (per crystal and chunk, or gathered per stick)."""
    tan_t, cos_t = torch.tan(theta_rad), torch.cos(theta_rad)
    strain = 0.018 * p["microstrain"] * tan_t / math.pi
    mix = p["microstrain_mix"]
    var = p["u"] * tan_t**2 + p["v"] * tan_t + p["w"] + ((1.0 - mix) * strain) ** 2 / _EIGHT_LN2
    fw_g = torch.sqrt(_EIGHT_LN2 * var.clamp_min(1e-10)) / 100.0
    fw_l = (p["x"] / cos_t + p["y"] * tan_t + p["z"] + mix * strain).clamp_min(0.0) / 100.0
    return fw_g, fw_l


def _shifted_two_theta(q_peak: torch.Tensor, crystal_index: torch.Tensor, params, k4: float) -> torch.Tensor:
    """2θ (degrees) of every stick after zero shift, sample displacement and the FCJ centroid shift."""
    c = crystal_index
    tt = torch.rad2deg(2.0 * torch.asin((q_peak / k4).clamp(max=1.0 - 1e-12)))
    shift = params.zero_deg[c] - (0.36 / math.pi) * params.displacement_um[c] / params.goniometer_radius_mm \
        * torch.cos(torch.deg2rad(tt / 2.0)) + fcj_centroid_shift_deg(tt, params.sh_l[c])
    return (tt + shift).clamp(1e-3, 179.9)


def fcj_centroid_shift_deg(two_theta_deg: torch.Tensor, sh_l: torch.Tensor) -> torch.Tensor:
    """Approximate centroid shift (degrees 2θ) of the FCJ axial-divergence profile: −(SH/L)²·cot(2θ)·(90/π),
    the leading term of the mean of the FCJ kernel for S = H (toward low angle below 90°, high above)."""
    tt = torch.deg2rad(two_theta_deg).clamp(1e-3, math.pi - 1e-3)
    return -(sh_l**2) / torch.tan(tt) * (180.0 / math.pi) / 2.0


def render_chunked(
    q_grid_inv_angstrom: torch.Tensor, q_peak: torch.Tensor, intensity: torch.Tensor, crystal_index: torch.Tensor,
    num_crystals: int, size_angstrom: torch.Tensor | float, params, wavelength_angstrom: float,
    axis: str = "two_theta", chunk_deg: float = 15.0, max_chunks: int = 8, pad_inv_angstrom: float | None = None,
    batch_reproducible: bool = True,
) -> torch.Tensor:
    """Patterns (B, G) on the ascending Q grid (see module docstring); ``params`` a
    :class:`~pxrdsolve.instrument.profile.ProfileTensors`.  Differentiable in stick positions and intensities,
    τ and every profile parameter.  ``batch_reproducible``: see
    :func:`~pxrdsolve.diffraction.profiles.render_pattern`."""
    lam = float(wavelength_angstrom)
    qg = q_grid_inv_angstrom
    dtype = qg.dtype
    k4 = 4.0 * math.pi / lam
    tt_grid = torch.rad2deg(2.0 * torch.asin((qg / k4).clamp(max=1.0 - 1e-12)))
    lo, hi = float(tt_grid[0]), float(tt_grid[-1])
    n_chunks = int(min(max_chunks, max(1, math.ceil((hi - lo) / chunk_deg))))
    centres_deg = torch.linspace(lo, hi, n_chunks + 2, dtype=dtype)[1:-1] if n_chunks > 1 else \
        torch.tensor([(lo + hi) / 2.0], dtype=dtype)
    theta_c = torch.deg2rad(centres_deg / 2.0)[None, :].expand(num_crystals, -1)
    fw_g, fw_l = _widths_deg({k: v[:, None] for k, v in params.tensors().items()}, theta_c)
    fw_deg, eta = tch_mix(fw_g, fw_l)  # (B, K)
    dq_per_deg = k4 * torch.cos(theta_c) * math.radians(0.5)
    fw_q = fw_deg * dq_per_deg
    # sticks: exact shifts (zero, displacement, FCJ centroid) in 2θ, back to Q
    c = crystal_index
    q_s = k4 * torch.sin(torch.deg2rad(_shifted_two_theta(q_peak, c, params, k4) / 2.0))
    tau = torch.as_tensor(size_angstrom, dtype=dtype, device=qg.device)
    tau = tau.expand(num_crystals) if tau.dim() == 0 else tau
    if n_chunks == 1:
        y = render_pattern(q_s, intensity, c, num_crystals, qg, tau, fw_q[:, 0], eta[:, 0], pad_inv_angstrom,
                           batch_reproducible=batch_reproducible)
    else:
        step = float(centres_deg[1] - centres_deg[0])
        # hat weights of each chunk on the grid (constant beyond the first/last centre)
        pos = ((tt_grid - float(centres_deg[0])) / step).clamp(0.0, n_chunks - 1.0)
        weights = (1.0 - (pos[None, :] - torch.arange(n_chunks, dtype=dtype)[:, None]).abs()).clamp_min(0.0)
        # each stick enters the chunks whose weighted span it can reach
        reach = 8.0 * float(fw_q.detach().max()) + (0.0 if pad_inv_angstrom is None else pad_inv_angstrom)
        c_lo = torch.cat([qg[:1] - 1.0, k4 * torch.sin(torch.deg2rad(centres_deg[:-1] / 2))])
        c_hi = torch.cat([k4 * torch.sin(torch.deg2rad(centres_deg[1:] / 2)), qg[-1:] + 1.0])
        qs, ii, cc = [], [], []
        for k in range(n_chunks):
            sel = (q_s.detach() > c_lo[k] - reach) & (q_s.detach() < c_hi[k] + reach)
            qs.append(q_s[sel])
            ii.append(intensity[sel])
            cc.append(c[sel] * n_chunks + k)
        virtual = render_pattern(torch.cat(qs), torch.cat(ii), torch.cat(cc), num_crystals * n_chunks, qg,
                                 tau.repeat_interleave(n_chunks), fw_q.reshape(-1), eta.reshape(-1),
                                 pad_inv_angstrom, batch_reproducible=batch_reproducible)
        y = (virtual.view(num_crystals, n_chunks, -1) * weights[None]).sum(1)
    if axis == "two_theta":
        y = y * dq_per_two_theta_deg(qg, wavelength_angstrom)[None, :]
    return y


def render_windowed(
    q_grid_inv_angstrom: torch.Tensor, q_peak: torch.Tensor, intensity: torch.Tensor, crystal_index: torch.Tensor,
    num_crystals: int, size_angstrom: torch.Tensor | float, params, wavelength_angstrom: float,
    axis: str = "two_theta", window_fwhm: float = 8.0,
) -> torch.Tensor:
    """Sharp peaks (bulk, synchrotron): each peak a TCH pseudo-Voigt evaluated directly within ±``window_fwhm``
    FWHM, the size broadening added as a Lorentzian FWHM (2.7831/τ Å⁻¹ in Q; sinc² side lobes are negligible
    once the instrument dominates), zero shift, displacement and the FCJ centroid shift as in
    :func:`render_chunked`.  Densities per degree 2θ (``axis="two_theta"``) or per Å⁻¹.  The cost grows with
    peaks × points per window, not with the grid, so long scans of sharp peaks stay cheap."""
    from pxrdsolve.ops.scatter import repeat_segments

    lam = float(wavelength_angstrom)
    qg = q_grid_inv_angstrom
    k4 = 4.0 * math.pi / lam
    c = crystal_index
    tt_s = _shifted_two_theta(q_peak, c, params, k4)
    th = torch.deg2rad(tt_s / 2.0)
    fw_g, fw_l = _widths_deg({k: v[c] for k, v in params.tensors().items()}, th)
    dq_per_deg = k4 * torch.cos(th) * math.radians(0.5)
    tau = torch.as_tensor(size_angstrom, dtype=qg.dtype, device=qg.device)
    tau = tau.expand(num_crystals) if tau.dim() == 0 else tau
    inv_tau = torch.where(torch.isfinite(tau), 1.0 / tau, torch.zeros_like(tau))[c]
    fw_l = fw_l + SINC2_FWHM_TIMES_TAU * inv_tau / dq_per_deg
    fw_deg, eta = tch_mix(fw_g, fw_l)
    if axis == "two_theta":
        centre, width = tt_s, fw_deg
        grid = torch.rad2deg(2.0 * torch.asin((qg / k4).clamp(max=1.0 - 1e-12)))
    else:
        centre, width = k4 * torch.sin(th), fw_deg * dq_per_deg
        grid = qg
    with torch.no_grad():
        lo = torch.searchsorted(grid, (centre - window_fwhm * width).contiguous())
        hi = torch.searchsorted(grid, (centre + window_fwhm * width).contiguous())
        counts = (hi - lo).clamp_min(0)
        seg, pos = repeat_segments(counts)
        g_idx = lo[seg] + pos
    x = (grid[g_idx] - centre[seg]) / width[seg]
    e = eta[seg]
    gauss = math.sqrt(4.0 * math.log(2.0) / math.pi) * torch.exp(-4.0 * math.log(2.0) * x * x)
    lorentz = (2.0 / math.pi) / (1.0 + 4.0 * x * x)
    val = intensity[seg] * (e * lorentz + (1.0 - e) * gauss) / width[seg]
    out = torch.zeros(num_crystals * grid.numel(), dtype=val.dtype, device=val.device)
    out = out.index_add(0, c[seg] * grid.numel() + g_idx, val)
    return out.view(num_crystals, grid.numel())
