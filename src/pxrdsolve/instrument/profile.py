"""Differentiable powder profile whose widths vary with angle: TCH pseudo-Voigt ⊗ FCJ ⊗ sinc² size.

For each stick p (position Q_p on the primary-wavelength axis, intensity I_p, crystal b) the
pattern receives I_p·Φ_p(t − t_p), Φ_p area-normalised, where (GSAS-II conventions, θ the Bragg
angle of the shifted peak):

* position: 2θ_p = 2θ(Q_p) + Zero − (0.36/π)(s/R)·cos θ  (degrees; zero shift, and sample
  displacement s µm on a goniometer of radius R mm: Δ2θ = −2s·cos θ/R rad);
* Gaussian variance σ² = U tan²θ + V tanθ + W (centideg²), Lorentzian FWHM X/cosθ + Y tanθ + Z
  (centideg); isotropic microstrain μ (10⁻⁶, GSAS-II "Mustrain") adds M = 0.018·μ·tanθ/π
  centideg, a fraction ``mix`` to the Lorentzian FWHM and (1 − mix)·M to the Gaussian FWHM
  (GSAS-II's LGmix);
* Γ_G = √(8 ln 2·σ²), Γ_L combined by Thompson–Cox–Hastings into Γ and η:
  pV = η·L_Γ + (1 − η)·G_Γ;
* axial divergence: Finger–Cox–Jephcoat with SH/L (S/L = H/L), as a few shifted, weighted copies
  (Gauss–Legendre after removing the endpoint singularity; the number of copies grows with the
  asymmetric extent relative to the width, up to 32; a single copy at the centroid when the extent
  is below a quarter of the FWHM);
* nanocrystal size: PXRDNet's K(ΔQ) = (τ/π)·sinc²(τΔQ) (FWHM 2.7831/τ Å⁻¹), τ = inf: none.

Axes.  ``axis="two_theta"``: the convolution is done in 2θ (degrees): the size kernel is K mapped
to 2θ with the local dQ/d2θ = (2π/λ)cos θ·π/180 at the peak, and the result is a density per
degree 2θ (∫ y d2θ = Σ I_p): what counts per 2θ step are proportional to.  ``axis="q"``: done in Q:
instrument widths and shifts (defined in 2θ) are mapped with the same local dQ/d2θ, and the
result is a density per Å⁻¹ (∫ y dQ = Σ I_p), so y_q ≈ y_2θ · d2θ/dQ (the Jacobian; equal to
first order in the peak width).  The grid is always given in Q.

Kα2: pass sticks of every source line on the primary-wavelength axis
(:func:`pxrdsolve.diffraction.peaks.source_line_sticks`, which applies LP and line weights);
widths are evaluated at each stick's own angle.  Polarisation and LP are not applied here.

Evaluation: each peak exactly (closed-form kernels, :mod:`pxrdsolve.instrument.kernels`) inside a
window of ``window_fwhm`` times its FWHM on each side (plus its asymmetric extent); beyond it the
mean asymptotic tail (η·Γ/2π + 1/2πτ)/Δ² (Lorentzian and sinc² tails) is added on a coarse grid, so
areas are kept.  Pairs are processed in chunks (recomputed in the backward pass) to bound memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import numpy as np
import torch
from torch.utils.checkpoint import checkpoint

from pxrdsolve.instrument.kernels import (
    GH_SWITCH_B,
    fcj_nodes,
    fcj_span_deg,
    gauss,
    lorentz,
    sinc2_gauss_faddeeva,
    sinc2_gauss_hermite,
    sinc2_lorentz,
    tch_mix,
)
from pxrdsolve.instrument.lattice import (
    ALIGNED_PER_FWHM,
    aligned_chunk,
    lattice_chunk,
    lattice_length,
    quantised_step,
)
from pxrdsolve.ops.scatter import repeat_segments

SINC2_FWHM_TIMES_TAU = 2.7831
_EIGHT_LN2 = 8.0 * math.log(2.0)
_FCJ_ORDERS = (1, 2, 4, 8, 16)
PROFILE_FIELDS = ("zero_deg", "displacement_um", "u", "v", "w", "x", "y", "z", "sh_l", "microstrain",
                  "microstrain_mix")


@dataclass(frozen=True)
class ProfileTensors:
    """Per-crystal (B,) profile parameters as tensors (any may require grad), GSAS-II units.

    ``zero_deg`` (°2θ), ``displacement_um`` (µm), ``u, v, w`` (centideg²), ``x, y, z`` (centideg),
    ``sh_l`` (SH/L), ``microstrain`` (10⁻⁶), ``microstrain_mix`` (Lorentzian share of the strain
    width, GSAS-II default 1); ``goniometer_radius_mm`` a plain float.
    """

    zero_deg: torch.Tensor
    displacement_um: torch.Tensor
    u: torch.Tensor
    v: torch.Tensor
    w: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor
    z: torch.Tensor
    sh_l: torch.Tensor
    microstrain: torch.Tensor
    microstrain_mix: torch.Tensor
    goniometer_radius_mm: float = 240.0

    @staticmethod
    def from_instrument(instrument, num_crystals: int, dtype: torch.dtype = torch.float64,
                        device: str | torch.device = "cpu", microstrain: float = 0.0,
                        microstrain_mix: float = 1.0) -> ProfileTensors:
        """B copies of an :class:`~pxrdsolve.instrument.model.Instrument`'s profile parameters."""
        vals = {name: getattr(instrument, name) for name in PROFILE_FIELDS[:9]}
        vals.update(microstrain=microstrain, microstrain_mix=microstrain_mix)
        t = {k: torch.full((num_crystals,), float(v), dtype=dtype, device=device) for k, v in vals.items()}
        return ProfileTensors(**t, goniometer_radius_mm=float(instrument.goniometer_radius_mm))

    @property
    def num_crystals(self) -> int:
        return int(self.u.numel())

    def with_(self, **changes) -> ProfileTensors:
        """A copy with some fields replaced (floats are broadcast to (B,) tensors)."""
        out = {}
        for k, v in changes.items():
            if k != "goniometer_radius_mm" and not isinstance(v, torch.Tensor):
                v = torch.full_like(self.u, float(v))
            out[k] = v
        return replace(self, **out)

    def requiring_grad(self, *names: str) -> ProfileTensors:
        """A copy whose named fields are fresh leaf tensors with ``requires_grad=True``."""
        return replace(self, **{n: getattr(self, n).detach().clone().requires_grad_(True) for n in names})

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "goniometer_radius_mm"}


@dataclass(frozen=True)
class _Peaks:
    """Per-peak quantities in the working variable t (2θ degrees or Q Å⁻¹)."""

    t: torch.Tensor
    inten: torch.Tensor
    eta: torch.Tensor
    gamma: torch.Tensor  # Lorentz HWHM
    sigma: torch.Tensor  # Gauss std
    inv_a: torch.Tensor  # 1/(2τ_t), 0 = no size
    scale_t: torch.Tensor  # dt per degree 2θ (1 for 2θ, dQ/d2θ for Q)
    two_theta: torch.Tensor
    sh_l: torch.Tensor


def _peak_quantities(q, inten, cidx, size, p: ProfileTensors, lam: float, axis: str) -> _Peaks:
    g = {k: v.to(q.dtype)[cidx] for k, v in p.tensors().items()}
    sin_t = q * (lam / (4.0 * math.pi))
    tt = torch.rad2deg(2.0 * torch.asin(sin_t))
    theta0 = torch.deg2rad(tt / 2.0)
    tt = tt + g["zero_deg"] - (0.36 / math.pi) * g["displacement_um"] / p.goniometer_radius_mm * torch.cos(theta0)
    th = torch.deg2rad(tt / 2.0)
    tan_t, cos_t = torch.tan(th), torch.cos(th)
    strain = 0.018 * g["microstrain"] * tan_t / math.pi  # centideg FWHM
    mix = g["microstrain_mix"]
    var = g["u"] * tan_t**2 + g["v"] * tan_t + g["w"] + ((1.0 - mix) * strain) ** 2 / _EIGHT_LN2
    fw_g = torch.sqrt(_EIGHT_LN2 * var.clamp_min(1e-10)) / 100.0
    fw_l = (g["x"] / cos_t + g["y"] * tan_t + g["z"] + mix * strain).clamp_min(0.0) / 100.0
    fw, eta = tch_mix(fw_g, fw_l)
    dq_dtt = (2.0 * math.pi / lam) * cos_t * (math.pi / 180.0)
    tau = size.to(q.dtype)[cidx]
    inv_tau = torch.where(torch.isfinite(tau), 1.0 / tau, torch.zeros_like(tau))
    if axis == "two_theta":
        t, scale = tt, torch.ones_like(tt)
        inv_a = 0.5 * inv_tau / dq_dtt
    else:
        t, scale = (4.0 * math.pi / lam) * torch.sin(th), dq_dtt
        inv_a = 0.5 * inv_tau
    fw_t = fw * scale
    return _Peaks(t, inten, eta.clamp(0.0, 1.0), 0.5 * fw_t, fw_t / math.sqrt(_EIGHT_LN2), inv_a, scale, tt,
                  g["sh_l"])


def _symmetric(delta, pk: dict, mode: str) -> torch.Tensor:
    eta, gam, sig, ia = pk["eta"], pk["gamma"], pk["sigma"], pk["inv_a"]
    if mode == "inf":
        return eta * lorentz(delta, gam) + (1.0 - eta) * gauss(delta, sig)
    fg = sinc2_gauss_hermite(delta, sig, ia) if mode == "gh" else sinc2_gauss_faddeeva(delta, sig, ia)
    return eta * sinc2_lorentz(delta, gam, ia) + (1.0 - eta) * fg


def _chunk_values(t_grid, g_idx, p_idx, t, inten, eta, gam, sig, ia, shift, wts, mode: str):
    pk = {"eta": eta[p_idx, None], "gamma": gam[p_idx, None], "sigma": sig[p_idx, None], "inv_a": ia[p_idx, None]}
    delta = (t_grid[g_idx] - t[p_idx])[:, None] - shift[p_idx]
    return inten[p_idx] * (wts[p_idx] * _symmetric(delta, pk, mode)).sum(-1)


def _order_for(extent_ratio: np.ndarray) -> np.ndarray:
    need = np.maximum(2.0, 4.0 * extent_ratio)
    order = np.array([next((k for k in _FCJ_ORDERS[1:] if k >= n), _FCJ_ORDERS[-1]) for n in need.ravel()])
    return np.where(extent_ratio < 0.25, 1, order)


def render_profile(
    q_grid_inv_angstrom: torch.Tensor,
    q_peak: torch.Tensor,
    intensity: torch.Tensor,
    crystal_index: torch.Tensor,
    num_crystals: int,
    size_angstrom: torch.Tensor | float,
    params: ProfileTensors,
    wavelength_angstrom: float,
    axis: str = "two_theta",
    *,
    window_fwhm: float = 10.0,
    tails: bool = True,
    method: str = "lattice",
    max_pairs: int = 1 << 20,
) -> torch.Tensor:
    """Patterns (B, G) on the ascending Q grid (Å⁻¹) from flat sticks; see the module docstring.

    ``q_peak``, ``intensity``, ``crystal_index`` (P,): sticks (Å⁻¹ on the primary-wavelength axis;
    sticks beyond 2θ = 180° are dropped); ``size_angstrom`` τ per crystal (B,) or a float
    (inf = no size term); ``params`` per-crystal :class:`ProfileTensors`.  Returns a density per
    degree 2θ (``axis="two_theta"``) or per Å⁻¹ (``axis="q"``), absolute (Σ I_p·profile).
    Each peak is evaluated within ``window_fwhm`` FWHM on each side (plus its asymmetric extent),
    mean tails beyond (``tails``).  ``method="lattice"`` (default, fast): per-peak FFT lattice and
    cubic interpolation (:mod:`pxrdsolve.instrument.lattice`, ~1e-5 of the peak height);
    ``"exact"``: closed-form kernels at every point (slow; the reference).  ``max_pairs`` bounds
    the elements of one chunk.  Differentiable in the positions, intensities, τ and every field
    of ``params``.
    """
    if axis not in ("two_theta", "q"):
        raise ValueError(f"axis must be 'two_theta' or 'q', got {axis!r}")
    if method not in ("lattice", "exact"):
        raise ValueError(f"method must be 'lattice' or 'exact', got {method!r}")
    out_dtype = q_grid_inv_angstrom.dtype if q_grid_inv_angstrom.is_floating_point() else torch.float64
    dt = torch.float64
    dev = q_grid_inv_angstrom.device
    lam = float(wavelength_angstrom)
    qg = q_grid_inv_angstrom.to(dt)
    n_grid = qg.numel()
    size = torch.as_tensor(size_angstrom, dtype=dt, device=dev)
    size = size.expand(num_crystals) if size.dim() == 0 else size
    q = q_peak.to(dt)
    ok = q.detach() * lam / (4.0 * math.pi) < 1.0 - 1e-9
    q, inten, cidx = q[ok], intensity.to(dt)[ok], crystal_index[ok]
    out = torch.zeros(num_crystals * n_grid, dtype=dt, device=dev)
    if q.numel() == 0 or n_grid == 0:
        return out.view(num_crystals, n_grid).to(out_dtype)
    if axis == "two_theta":
        if float(qg.max()) * lam / (4.0 * math.pi) >= 1.0:
            raise ValueError("grid reaches beyond 2θ = 180° for this wavelength")
        t_grid = torch.rad2deg(2.0 * torch.asin(qg * (lam / (4.0 * math.pi))))
    else:
        t_grid = qg
    pk = _peak_quantities(q, inten, cidx, size, params, lam, axis)
    tail_unit = pk.eta * pk.gamma / math.pi + pk.inv_a / math.pi  # mean tail A/Δ² per unit area

    with torch.no_grad():
        fw_sym = (pk.gamma * 2.0).cpu().numpy()
        fw_size = (SINC2_FWHM_TIMES_TAU * 2.0 * pk.inv_a).cpu().numpy()
        fwhm = fw_sym + fw_size
        if not (fwhm > 1e-12).all():
            raise ValueError("no broadening: give a finite size or instrument widths")
        narrow = np.maximum(fw_sym, fw_size)
        ext = fcj_span_deg(pk.two_theta.cpu().numpy(), pk.sh_l.cpu().numpy()) * pk.scale_t.cpu().numpy()
        order = _order_for(ext / narrow)
        # quantised (1/8 octave) so that small parameter changes keep windows and tail switches fixed
        half = np.exp2(np.floor(np.log2(window_fwhm * fwhm) * 8.0) / 8.0)
        tp = pk.t.cpu().numpy()
        low_side = pk.two_theta.cpu().numpy() <= 90.0
        lo = tp - half - np.where(low_side, ext, 0.0)
        hi = tp + half + np.where(low_side, 0.0, ext)
        if method == "exact":
            finite = (pk.inv_a > 0).cpu().numpy()
            b = (pk.sigma / (math.sqrt(2.0) * pk.inv_a.clamp_min(1e-300))).cpu().numpy()
            group = np.where(~finite, 0, np.where(b < GH_SWITCH_B, 1, 2))
            h = np.zeros_like(tp)
            uniform = False
        else:
            spacing = np.diff(t_grid.cpu().numpy())
            uniform = spacing.size > 0 and bool(np.allclose(spacing, spacing.mean(), rtol=1e-6, atol=0.0))
            if uniform:
                step = float(spacing.mean())
                m = np.maximum(1, np.ceil(step / (narrow / ALIGNED_PER_FWHM))).astype(np.int64)
                h = step / m
            else:
                h = quantised_step(narrow)
            group = np.array([lattice_length(v) for v in ((half + ext) / h + 2).tolist()])
            reach = ((group // 2 - 2) // m - 1) * step if uniform else (group // 2 - 3) * h
            lo = np.maximum(lo, tp - reach)
            hi = np.minimum(hi, tp + reach)
        tg_np = t_grid.cpu().numpy()
        i0 = np.searchsorted(tg_np, lo, side="left")
        i1 = np.searchsorted(tg_np, hi, side="right")
    flat_base = cidx * n_grid
    need_grad = torch.is_grad_enabled() and any(
        x.requires_grad for x in (pk.t, pk.inten, pk.eta, pk.gamma, pk.sigma, pk.inv_a, pk.sh_l))
    h_t = torch.as_tensor(h, dtype=dt, device=dev)
    half_t = torch.as_tensor(half, dtype=dt, device=dev)
    if method == "lattice" and uniform:
        m_t = torch.as_tensor(m, device=dev)
        g_near = torch.as_tensor(np.clip(np.rint((tp - float(tg_np[0])) / step), 0, n_grid - 1).astype(np.int64),
                                 device=dev)
    for gcode in sorted(set(group.tolist())):
        for k in sorted(set(order[group == gcode].tolist())):
            sel = np.nonzero((group == gcode) & (order == k))[0]
            s_t = torch.as_tensor(sel, device=dev)
            shift_deg, wts = fcj_nodes(pk.two_theta[s_t], pk.sh_l[s_t], int(k))
            shift = shift_deg * pk.scale_t[s_t, None]
            counts = np.maximum(i1[sel] - i0[sel], 0)
            cost = counts * int(k) if method == "exact" else counts + int(gcode) * (int(k) + 4)
            for start, stop in _chunks(cost, max_pairs):
                if not counts[start:stop].sum():
                    continue
                cnt = torch.as_tensor(counts[start:stop], device=dev)
                seg, pos = repeat_segments(cnt)
                g_idx = torch.as_tensor(i0[sel[start:stop]], device=dev)[seg] + pos
                part = s_t[start:stop]
                args = (t_grid, g_idx, seg, pk.t[part], pk.inten[part], pk.eta[part], pk.gamma[part],
                        pk.sigma[part], pk.inv_a[part], shift[start:stop], wts[start:stop])
                if method == "exact":
                    fn, extra = _chunk_values, (("inf", "gh", "fad")[gcode],)
                else:
                    extra = ((pk.inten * tail_unit)[part], h_t[part], int(gcode), _tail_model if tails else None,
                             half_t[part])
                    fn = aligned_chunk if uniform else lattice_chunk
                    if uniform:
                        extra = (*extra, g_near[part], m_t[part])
                if need_grad:
                    vals = checkpoint(fn, *args, *extra, use_reentrant=False)
                else:
                    vals = fn(*args, *extra)
                if tails and method == "exact":
                    delta = t_grid[g_idx] - pk.t[part][seg]
                    vals = vals - _tail_model(delta, (pk.inten * tail_unit)[part][seg], half_t[part][seg])
                out = out.index_add(0, flat_base.index_select(0, part).index_select(0, seg) + g_idx, vals)
    out = out.view(num_crystals, n_grid)
    if tails:
        out = out + _tails(t_grid, pk, tail_unit, cidx, num_crystals, half)
    return out.to(out_dtype)


def _chunks(cost: np.ndarray, budget: int):
    """Consecutive (start, stop) ranges whose summed cost stays within ``budget`` (at least one each)."""
    start, n = 0, cost.size
    csum = np.concatenate([[0], np.cumsum(cost)])
    while start < n:
        stop = int(np.searchsorted(csum, csum[start] + budget, side="right")) - 1
        stop = max(stop, start + 1)
        yield start, min(stop, n)
        start = stop


def _switch(delta, half):
    """S(|Δ|/W): 0 below W/2, 1 beyond W, quintic smoothstep between (the tail's share)."""
    r = ((delta.abs() / half - 0.5) / 0.5).clamp(0.0, 1.0)
    return r**3 * (10.0 - 15.0 * r + 6.0 * r * r)


def _tail_model(delta, coef, half):
    """T(Δ) = A·S(|Δ|/W)/Δ²: the mean asymptotic tail, switched off near the centre."""
    d_safe = torch.where(delta.abs() > 0.25 * half, delta, 0.25 * half)
    return coef * _switch(delta, half) / d_safe**2


_FAR = 8.0  # the near tail level covers W/2 < |Δ| < 8W, the far level beyond


def _coarse_to_grid(coarse, t_grid, start: float, h: float):
    n_c = coarse.shape[1]
    u = (t_grid - start) / h
    i0 = torch.floor(u.detach()).long().clamp(1, n_c - 3)
    f = (u - i0.to(u.dtype))[None, :]
    f2, f3 = f * f, f * f * f
    return 0.5 * (coarse[:, i0 - 1] * (-f3 + 2.0 * f2 - f) + coarse[:, i0] * (3.0 * f3 - 5.0 * f2 + 2.0)
                  + coarse[:, i0 + 1] * (-3.0 * f3 + 4.0 * f2 + f) + coarse[:, i0 + 2] * (f3 - f2))


def _tails(t_grid, pk: _Peaks, tail_unit, cidx, num_crystals: int, half, max_elems: int = 1 << 21):
    """Σ_p I_p·T_p(t − t_p) (smooth) on two coarse grids, brought to the grid by Catmull–Rom.

    Near level: A/Δ²·(S(|Δ|/W) − S(|Δ|/8W)) on a grid of step min(W)/8, within 8W of each peak;
    far level: A/Δ²·S(|Δ|/8W) on a grid of step min(W), everywhere.  Inside each window the pairs
    carry f − T, so the sum is exact there; beyond it T ≈ f.
    """
    dt, dev = t_grid.dtype, t_grid.device
    t0, t1 = float(t_grid[0]), float(t_grid[-1])
    n_grid = t_grid.numel()
    out = torch.zeros(num_crystals, n_grid, dtype=dt, device=dev)
    if n_grid < 2 or t1 <= t0:
        return out
    coef = pk.inten * tail_unit
    half_t = torch.as_tensor(half, dtype=dt, device=dev)
    w_min = float(half.min())
    for level, h in (("near", w_min / 8.0), ("far", w_min)):
        h = max(h, (t1 - t0) / 16384.0)
        h = float(np.exp2(np.floor(np.log2(h) * 4.0) / 4.0))  # quantised: fixed under small changes
        n_c = math.ceil((t1 - t0) / h) + 4
        start = t0 - h
        tc = start + h * torch.arange(n_c, dtype=dt, device=dev)
        flat = torch.zeros(num_crystals * n_c, dtype=dt, device=dev)
        if level == "near":
            tp = pk.t.detach().cpu().numpy()
            i_lo = np.clip(np.floor((tp - _FAR * half - start) / h), 0, n_c).astype(np.int64)
            i_hi = np.clip(np.ceil((tp + _FAR * half - start) / h) + 1, 0, n_c).astype(np.int64)
            counts = np.maximum(i_hi - i_lo, 0)
            for a, b in _chunks(counts, max_elems):
                cnt = torch.as_tensor(counts[a:b], device=dev)
                seg, pos = repeat_segments(cnt)
                part = torch.arange(a, b, device=dev)[seg]
                g = torch.as_tensor(i_lo[a:b], device=dev)[seg] + pos
                d = tc.index_select(0, g) - pk.t.index_select(0, part)
                w = half_t.index_select(0, part)
                val = coef.index_select(0, part) * (_switch(d, w) - _switch(d, _FAR * w)) / torch.where(
                    d.abs() > 0.25 * w, d, 0.25 * w) ** 2
                flat = flat.index_add(0, cidx.index_select(0, part) * n_c + g, val)
        else:
            step = max(1, max_elems // n_c)
            for a in range(0, pk.t.numel(), step):
                d = tc[None, :] - pk.t[a : a + step, None]
                val = _tail_model(d, coef[a : a + step, None], _FAR * half_t[a : a + step, None])
                flat = flat.index_add(0, (cidx[a : a + step, None] * n_c + torch.arange(n_c, device=dev)).reshape(-1),
                                      val.reshape(-1))
        out = out + _coarse_to_grid(flat.view(num_crystals, n_c), t_grid, start, h)
    return out
