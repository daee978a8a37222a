"""Peak profiles and continuous patterns on any Q grid.

Every profile is an area-normalised kernel in Q (Å⁻¹), described by its Fourier transform
T(x) = ∫ K(q) e^{−iqx} dq (x in Å, the conjugate "column length" variable):

* nanocrystal size, PXRDNet's convention (τ = ``size_angstrom``):
  K(ΔQ) = (τ/π) · sinc²(τΔQ) with sinc(u) = sin(u)/u, FWHM ≈ 2.783/τ Å⁻¹;
  T(x) = max(0, 1 − |x|/(2τ)).  A crystal column of length D gives sinc²(DΔQ/2): D = 2τ.
  ``size_angstrom = inf`` means no size broadening (T = 1);
* instrument pseudo-Voigt of FWHM Γ (Å⁻¹) and Lorentzian fraction η (η = 0: Gaussian):
  T(x) = η·exp(−Γ|x|/2) + (1 − η)·exp(−σ²x²/2), σ = Γ/(2√(2 ln 2)).

The pattern y(Q) = Σ_p I_p (K_size ⊛ K_instr)(Q − Q_p) is evaluated exactly as a Fourier series
on a periodic window (band-limited by T): the peaks' spectrum S(x_k) = Σ_p I_p e^{−i x_k (Q_p − q₀)}
is computed directly (no binning, so y is smooth and differentiable in the peak positions, the
intensities, τ and Γ), multiplied by T and brought back with an inverse real FFT onto a fine
uniform grid that contains the requested grid points (uniform grids) or is linearly interpolated
(non-uniform grids such as 2θ grids converted to Q).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from pxrdsolve.diffraction.spread import spread_pays, stick_spectrum_spread
from pxrdsolve.ops.fft import irfft_rows

SINC2_FWHM_TIMES_TAU = 2.7831  # FWHM of τ·sinc²(τΔQ) is 2.7831/τ Å⁻¹
_GAUSS_SIGMA_PER_FWHM = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
_TAIL = 1e-7  # transfer-function level treated as zero


@dataclass(frozen=True)
class ProfileSpec:
    """Peak-shape settings: ``size_angstrom`` τ (inf = none), instrument FWHM Γ (Å⁻¹), Lorentz fraction η."""

    size_angstrom: float = math.inf
    instrument_fwhm_q: float = 0.0
    instrument_eta: float = 0.0

    def __post_init__(self) -> None:
        if not self.size_angstrom > 0:
            raise ValueError(f"size must be > 0 Å (or inf), got {self.size_angstrom}")
        if self.instrument_fwhm_q < 0 or not 0.0 <= self.instrument_eta <= 1.0:
            raise ValueError("instrument FWHM must be >= 0 and eta in [0, 1]")

    @property
    def has_broadening(self) -> bool:
        return math.isfinite(self.size_angstrom) or self.instrument_fwhm_q > 0

    def fwhm_q(self) -> float:
        """Approximate total FWHM (Å⁻¹): size and instrument widths added in quadrature."""
        size = SINC2_FWHM_TIMES_TAU / self.size_angstrom if math.isfinite(self.size_angstrom) else 0.0
        return math.hypot(size, self.instrument_fwhm_q)

    def to_json(self) -> dict:
        return {"size_angstrom": self.size_angstrom, "instrument_fwhm_q": self.instrument_fwhm_q,
                "instrument_eta": self.instrument_eta}


def _as_batch(value: float | torch.Tensor, n: int, like: torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    return t.expand(n) if t.dim() == 0 else t


def transfer_function(
    x: torch.Tensor, size_angstrom: torch.Tensor, fwhm_q: torch.Tensor, eta: torch.Tensor
) -> torch.Tensor:
    """T(x) for each crystal: ``x`` (K,) Å, parameters (B,) → (B, K).  T(0) = 1."""
    xa = x.abs()[None, :]
    tau = size_angstrom[:, None]
    size_t = torch.where(torch.isfinite(tau), (1.0 - xa / (2.0 * tau)).clamp_min(0.0), torch.ones_like(xa))
    sigma = fwhm_q[:, None] * _GAUSS_SIGMA_PER_FWHM
    gauss = torch.exp(-0.5 * (sigma * xa) ** 2)
    lorentz = torch.exp(-0.5 * fwhm_q[:, None] * xa)
    e = eta[:, None]
    return size_t * (e * lorentz + (1.0 - e) * gauss)


def band_limit(size_angstrom: torch.Tensor, fwhm_q: torch.Tensor, eta: torch.Tensor) -> float:
    """Largest x (Å) where any crystal's T(x) exceeds the tail level."""
    tau = size_angstrom.detach().double()
    g = fwhm_q.detach().double()
    e = eta.detach().double()
    inf = torch.full_like(tau, math.inf)
    x_size = torch.where(torch.isfinite(tau), 2.0 * tau, inf)
    sig = g * _GAUSS_SIGMA_PER_FWHM
    x_gauss = torch.where(g > 0, math.sqrt(2.0 * math.log(1.0 / _TAIL)) / sig.clamp_min(1e-30), inf)
    x_lor = torch.where((g > 0) & (e > 0), 2.0 * math.log(1.0 / _TAIL) / g.clamp_min(1e-30), -inf)
    x_instr = torch.maximum(torch.where(e < 1, x_gauss, -inf), x_lor)
    x_instr = torch.where(g > 0, x_instr, inf)
    xm = torch.minimum(x_size, x_instr)
    if not bool(torch.isfinite(xm).all()):
        raise ValueError("no broadening: give a finite size or an instrument FWHM to render a profile")
    return float(xm.max())


def _reduced(ang: torch.Tensor, reduce: bool = True) -> torch.Tensor:
    """Angles (rad) reduced to [0, 2π) (gradient 1); ``reduce=False`` leaves them (float64 sines and
    cosines of the ≤ 2π·n_freq angles used here are accurate without it, and it costs as much as they do)."""
    if not reduce and ang.dtype == torch.float64:
        return ang
    return ang - (2.0 * math.pi) * torch.floor(ang.detach() / (2.0 * math.pi))


def stick_spectrum(
    d: torch.Tensor, intensity: torch.Tensor, crystal_index: torch.Tensor, num_crystals: int, n_freq: int,
    max_pairs: int = 8_000_000, reduce_angles: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Σ_p I_p cos(d_p k), Σ_p I_p sin(d_p k) for k = 0..n_freq−1 per crystal: two (B, n_freq) tensors.

    ``d`` (P,) phase per unit frequency (rad, in [0, 2π]).  Summed stick by stick (chunks of ``max_pairs``
    (stick, frequency) pairs), so a crystal's row does not depend on the other crystals of the batch.
    ``reduce_angles=False`` skips the reduction of d·k modulo 2π in float64 (equal to rounding)."""
    dev, dtype = d.device, d.dtype
    spec_re = torch.zeros(num_crystals, n_freq, dtype=dtype, device=dev)
    spec_im = torch.zeros(num_crystals, n_freq, dtype=dtype, device=dev)
    step = max(1, max_pairs // max(n_freq, 1))
    k = torch.arange(n_freq, dtype=dtype, device=dev)
    for s in range(0, d.numel(), step):
        ang = _reduced(d[s : s + step, None] * k[None, :], reduce_angles)
        w = intensity[s : s + step, None]
        ci = crystal_index[s : s + step]
        spec_re = spec_re.index_add(0, ci, w * torch.cos(ang))  # real and imaginary parts apart: no
        spec_im = spec_im.index_add(0, ci, w * torch.sin(ang))  # (peak, frequency, 2) copy
    return spec_re, spec_im


def stick_spectrum_matmul(
    d: torch.Tensor, intensity: torch.Tensor, crystal_index: torch.Tensor, num_crystals: int, n_freq: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`stick_spectrum` as matrix products (equal to rounding; rows depend on the batch's padding).

    With k = J·a + b (0 ≤ b < J ≈ √n_freq), e^{i d k} = e^{i d J a} · e^{i d b}, so a crystal's spectrum
    is the (a × stick) by (stick × b) complex product of two small tables: P·(n_freq/J + J) sines and
    cosines instead of P·n_freq, and a matrix product (forward and backward) for the sum."""
    dev, dtype = d.device, d.dtype
    j = max(1, math.isqrt(max(n_freq - 1, 0)) + 1)
    n_a = -(-n_freq // j)
    counts = torch.bincount(crystal_index, minlength=num_crystals)
    p_max = int(counts.max()) if counts.numel() else 0
    if p_max == 0:
        zero = torch.zeros(num_crystals, n_freq, dtype=dtype, device=dev)
        return zero, zero.clone()
    order = torch.argsort(crystal_index, stable=True)
    ci = crystal_index[order]
    pos = torch.arange(ci.numel(), device=dev) - (torch.cumsum(counts, 0) - counts)[ci]
    d_pad = torch.zeros(num_crystals, p_max, dtype=dtype, device=dev).index_put((ci, pos), d[order])
    w_pad = torch.zeros(num_crystals, p_max, dtype=dtype, device=dev).index_put((ci, pos), intensity[order])
    ang_a = _reduced(d_pad[..., None] * (j * torch.arange(n_a, dtype=dtype, device=dev)), False)  # (B, P, A)
    ang_b = _reduced(d_pad[..., None] * torch.arange(j, dtype=dtype, device=dev), False)  # (B, P, J)
    ar = (w_pad[..., None] * torch.cos(ang_a)).transpose(1, 2)  # (B, A, P)
    ai = (w_pad[..., None] * torch.sin(ang_a)).transpose(1, 2)
    br, bi = torch.cos(ang_b), torch.sin(ang_b)
    re = (torch.bmm(ar, br) - torch.bmm(ai, bi)).reshape(num_crystals, -1)[:, :n_freq]
    im = (torch.bmm(ar, bi) + torch.bmm(ai, br)).reshape(num_crystals, -1)[:, :n_freq]
    return re, im


def _matmul_pays(crystal_index: torch.Tensor, num_crystals: int, n_freq: int) -> bool:
    """Whether :func:`stick_spectrum_matmul` (sines of the padded sticks × (n_freq/J + J)) costs less than
    the stick sum (sines of every stick × n_freq): many frequencies, sticks spread evenly over crystals."""
    if crystal_index.numel() == 0:
        return False
    p_max = int(torch.bincount(crystal_index, minlength=num_crystals).max())
    j = math.isqrt(max(n_freq - 1, 0)) + 1
    padded = num_crystals * p_max * (j + -(-n_freq // j))
    return 2 * padded < crystal_index.numel() * n_freq


def render_pattern(
    q_peaks: torch.Tensor,
    intensity: torch.Tensor,
    crystal_index: torch.Tensor,
    num_crystals: int,
    q_grid: torch.Tensor,
    size_angstrom: float | torch.Tensor = math.inf,
    instrument_fwhm_q: float | torch.Tensor = 0.0,
    instrument_eta: float | torch.Tensor = 0.0,
    pad_inv_angstrom: float | None = None,
    max_pairs: int = 8_000_000,
    batch_reproducible: bool = True,
) -> torch.Tensor:
    """Continuous patterns (B, G) on ``q_grid`` (G,) Å⁻¹ (ascending) from flat sticks.

    ``q_peaks``, ``intensity``, ``crystal_index``: (P,) sticks.  Size/instrument parameters are
    floats or (B,) tensors.  The result is Σ_p I_p K(Q − Q_p) (area-normalised K): absolute, not
    rescaled.  Peaks outside the grid contribute their tails; pass peaks up to a few FWHM beyond
    the grid edges.  Differentiable in positions, intensities and the profile parameters.

    ``batch_reproducible`` (default) sums each crystal's stick spectrum in a fixed order, so its row is
    the same bits whatever else is in the batch (what ``simulate`` promises); ``False`` (what the
    refinement uses) evaluates it by B-spline spreading and one FFT per crystal
    (:func:`~pxrdsolve.diffraction.spread.stick_spectrum_spread`, relative error ~1e-7, 10–50x faster with
    its gradient) or, where that does not pay, as matrix products (:func:`stick_spectrum_matmul`, equal to
    rounding) or the direct sum.
    """
    dtype = q_grid.dtype if q_grid.is_floating_point() else torch.float64
    dev = q_grid.device
    qg = q_grid.to(dtype)
    tau = _as_batch(size_angstrom, num_crystals, qg)
    fwhm = _as_batch(instrument_fwhm_q, num_crystals, qg)
    eta = _as_batch(instrument_eta, num_crystals, qg)
    x_max = band_limit(tau, fwhm, eta)

    q_lo, q_hi = float(qg[0]), float(qg[-1])
    widths = [SINC2_FWHM_TIMES_TAU / float(t) for t in tau.detach().tolist() if math.isfinite(t)]
    widths += [float(v) for v in fwhm.detach().tolist() if v > 0]
    widest = max(widths)
    pad = pad_inv_angstrom if pad_inv_angstrom is not None else max(1.0, 20.0 * widest)
    # fine grid step: fine enough for the band limit, and dividing the grid spacing when uniform
    h_req = math.pi / (16.0 * x_max)
    spacing = torch.diff(qg.detach())
    uniform = qg.numel() > 1 and bool(torch.allclose(spacing, spacing.mean(), rtol=1e-6, atol=1e-12))
    if uniform:
        dq = float(spacing.mean())
        m = max(1, math.ceil(dq / h_req))
        h = dq / m
    else:
        m = 0
        h = min(h_req, float(spacing.min()) if qg.numel() > 1 else h_req)
    n_pad = math.ceil(pad / h)
    q0 = q_lo - n_pad * h
    n_fine = n_pad * 2 + math.ceil((q_hi - q_lo) / h) + 1
    n_fine += n_fine % 2
    period = n_fine * h
    n_freq = min(n_fine // 2 + 1, math.ceil(x_max * period / (2.0 * math.pi)) + 2)
    x = (2.0 * math.pi / period) * torch.arange(n_freq, dtype=dtype, device=dev)

    d = (q_peaks.to(dtype) - q0) * (2.0 * math.pi / period)  # phase per unit k
    if not batch_reproducible and spread_pays(d.numel(), num_crystals, n_freq):
        spec_re, spec_im = stick_spectrum_spread(d, intensity.to(dtype), crystal_index, num_crystals, n_freq)
    elif batch_reproducible or not _matmul_pays(crystal_index, num_crystals, n_freq):
        spec_re, spec_im = stick_spectrum(d, intensity.to(dtype), crystal_index, num_crystals, n_freq, max_pairs,
                                          reduce_angles=batch_reproducible)
    else:
        spec_re, spec_im = stick_spectrum_matmul(d, intensity.to(dtype), crystal_index, num_crystals, n_freq)
    t = transfer_function(x, tau, fwhm, eta)
    coeff = torch.complex(spec_re * t, -spec_im * t)
    fine = irfft_rows(coeff, n_fine) * (n_fine / period)  # density per Å⁻¹ (batch-independent rows)
    if uniform:
        idx = n_pad + m * torch.arange(qg.numel(), device=dev)
        return fine[:, idx]
    pos = (qg - q0) / h
    i0 = torch.floor(pos.detach()).long().clamp(0, n_fine - 2)
    frac = (pos - i0.to(dtype))[None, :]
    return fine[:, i0] * (1.0 - frac) + fine[:, i0 + 1] * frac


def render_sticks(
    q_peaks: torch.Tensor, intensity: torch.Tensor, crystal_index: torch.Tensor, num_crystals: int,
    q_grid: torch.Tensor,
) -> torch.Tensor:
    """Unbroadened sticks summed into the nearest point of a uniform ``q_grid`` → (B, G)."""
    g = q_grid.numel()
    dq = float(q_grid[1] - q_grid[0])
    idx = torch.round((q_peaks - q_grid[0]) / dq).long()
    ok = (idx >= 0) & (idx < g)
    out = torch.zeros(num_crystals * g, dtype=intensity.dtype, device=intensity.device)
    out = out.index_add(0, crystal_index[ok] * g + idx[ok], intensity[ok])
    return out.view(num_crystals, g)
