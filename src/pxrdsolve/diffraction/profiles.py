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
) -> torch.Tensor:
    """Continuous patterns (B, G) on ``q_grid`` (G,) Å⁻¹ (ascending) from flat sticks.

    ``q_peaks``, ``intensity``, ``crystal_index``: (P,) sticks.  Size/instrument parameters are
    floats or (B,) tensors.  The result is Σ_p I_p K(Q − Q_p) (area-normalised K): absolute, not
    rescaled.  Peaks outside the grid contribute their tails; pass peaks up to a few FWHM beyond
    the grid edges.  Differentiable in positions, intensities and the profile parameters.
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

    # spectrum of the sticks, chunked over peaks to bound the (peak, frequency) array
    spec_re = torch.zeros(num_crystals, n_freq, dtype=dtype, device=dev)
    spec_im = torch.zeros(num_crystals, n_freq, dtype=dtype, device=dev)
    d = (q_peaks.to(dtype) - q0) * (2.0 * math.pi / period)  # phase per unit k
    step = max(1, max_pairs // max(n_freq, 1))
    k = torch.arange(n_freq, dtype=dtype, device=dev)
    for s in range(0, d.numel(), step):
        dd = d[s : s + step]
        ang = dd[:, None] * k[None, :]
        ang = ang - (2.0 * math.pi) * torch.floor(ang.detach() / (2.0 * math.pi))
        w = intensity[s : s + step].to(dtype)[:, None]
        ci = crystal_index[s : s + step]
        spec_re = spec_re.index_add(0, ci, w * torch.cos(ang))  # real and imaginary parts apart: no
        spec_im = spec_im.index_add(0, ci, w * torch.sin(ang))  # (peak, frequency, 2) copy
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
