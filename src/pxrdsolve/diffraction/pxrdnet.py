"""The ``pxrdnet`` preset: PXRDNet's model-input (512 points) and evaluation (8192 points) patterns.

Reproduces the pipeline of gabeguo/cdvae_xrd as described in docs/reference (§1), batched in torch:

1. peaks at Cu Kα (λ = 1.54184 Å) with 2θ ≤ 90°, intensities scaled to max 1;
2. Q axis 0 … Q_max = 4π/λ (8.1502 Å⁻¹); each peak goes to bin ``int(n·Q/Q_max)``, the larger
   peak kept where two share a bin (sticks stored as float32, as PXRDNet's torch tensor);
3. nanosize kernel τ·sinc²(τΔQ) sampled at ``linspace(0, Q_max, 4096) − Q_max/2`` and applied like
   ``np.convolve(x, k, mode="same")`` (not normalised; even length, so peaks land half a bin right);
   τ = inf skips it;
4. Gaussian filter like ``scipy.ndimage.gaussian_filter1d(mode="constant", truncate=4)`` with σ drawn
   uniformly in [0.01, 0.011]·4096 bins per sample;
5. ReLU, divide by the maximum, max-pool by 8 → 512 points, add N(0, 10⁻³) noise, clip to [0, 1].

Evaluation pattern: 8192 bins, Gaussian σ = int(8192·0.005) = 40 bins, no sinc (unless a size is
given), normalised and clipped, no pooling, no noise.  R_wp² = Σ(gt − pred)²/Σ gt².
The structure's cell does not matter (PXRDNet converts to the conventional cell first; powder
patterns are invariant to the cell choice).
"""

from __future__ import annotations

import math

import torch

from pxrdsolve.diffraction.grids import (
    PXRDNET_N_EVAL,
    PXRDNET_N_FINE,
    PXRDNET_N_INPUT,
    PXRDNET_WAVELENGTH_ANGSTROM,
    pxrdnet_q_max,
)
from pxrdsolve.diffraction.peaks import PeakTable, lorentz_polarisation
from pxrdsolve.ops.fft import complex_mul, irfft_rows, rfft_rows
from pxrdsolve.ops.scatter import scatter_max

SIGMA_RANGE_FRACTION = (1e-2, 1.1e-2)  # Gaussian σ as a fraction of 4096 bins
NOISE_STD = 1e-3
EVAL_SIGMA_BINS = int(PXRDNET_N_EVAL * 5e-3)  # 40
TWO_THETA_MAX_DEG = 90.0


def pxrdnet_peak_q_max() -> float:
    """Q (Å⁻¹) at 2θ = 90° for Cu Kα: the last peak PXRDNet asks pymatgen for."""
    return 4.0 * math.pi * math.sin(math.radians(TWO_THETA_MAX_DEG / 2)) / PXRDNET_WAVELENGTH_ANGSTROM


def stick_grid(peaks: PeakTable, n_bins: int) -> torch.Tensor:
    """PXRDNet's stick pattern (B, n_bins): Cu Kα intensities scaled to max 1, max per bin."""
    lam = PXRDNET_WAVELENGTH_ANGSTROM
    q = peaks.q_inv_angstrom.detach().double()
    inside = q <= pxrdnet_peak_q_max() * (1 + 1e-12)
    inten = peaks.f_squared.detach().double() * lorentz_polarisation(q, lam)
    inten = torch.where(inside, inten, torch.zeros_like(inten))
    bsz = peaks.num_crystals
    cmax = scatter_max(inten, peaks.crystal_index, bsz)
    rel = (inten / cmax[peaks.crystal_index].clamp_min(1e-300)).float().double()  # float32 like torch
    idx = torch.floor(n_bins * q / pxrdnet_q_max()).long().clamp(0, n_bins - 1)
    flat = peaks.crystal_index * n_bins + idx
    out = torch.zeros(bsz * n_bins, dtype=torch.float64, device=q.device)
    out = out.scatter_reduce(0, flat[inside], rel[inside], reduce="amax", include_self=True)
    return out.view(bsz, n_bins)


def next_fast_len(n: int) -> int:
    """Smallest 2^a·3^b·5^c ≥ n (FFT lengths with small prime factors are fast)."""
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            v = p35
            while v < n:
                v *= 2
            best = min(best, v)
            p35 *= 3
        p5 *= 5
    return best


def _fft_convolve_same(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Row-wise ``np.convolve(x, k, mode="same")`` for x (B, n) and kernels (B, m) or (1, m).

    Each row's result is bit-identical in any batch and on any thread count (see :mod:`pxrdsolve.ops.fft`).
    """
    n, m = x.shape[-1], kernel.shape[-1]
    kernel = kernel.to(x.dtype)
    size = next_fast_len(n + m - 1)  # zero padding beyond n + m − 1 leaves the linear convolution exact
    fx, fk = rfft_rows(x, size), rfft_rows(kernel, size)
    fr, fi = complex_mul(fx.real, fx.imag, fk.real, fk.imag)
    full = irfft_rows(torch.complex(fr, fi), size)
    start = (m - 1) // 2
    return full[..., start : start + max(n, m)]


def sinc_kernel(size_angstrom: torch.Tensor, n_bins: int = PXRDNET_N_FINE) -> torch.Tensor:
    """PXRDNet's sampled kernel τ·sinc²(τΔQ) (B, n_bins); rows with τ = inf are a unit impulse."""
    q_max = pxrdnet_q_max()
    dq = torch.linspace(0.0, q_max, n_bins, dtype=torch.float64, device=size_angstrom.device) - q_max / 2
    tau = size_angstrom.double()[:, None]
    finite = torch.isfinite(tau)
    tau_f = torch.where(finite, tau, torch.ones_like(tau))
    k = tau_f * torch.sinc(tau_f * dq[None, :] / math.pi) ** 2
    impulse = torch.zeros_like(k)
    impulse[:, (n_bins - 1) // 2] = 1.0  # convolve 'same' with this returns x unchanged
    return torch.where(finite, k, impulse)


def _convolve_sinc(x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """Apply the sinc² kernel of each row's τ (one kernel when all rows share τ)."""
    if bool((tau == tau[0]).all()) or bool(torch.isinf(tau).all()):
        if bool(torch.isinf(tau[0])):
            return x
        return _fft_convolve_same(x, sinc_kernel(tau[:1], x.shape[-1]))
    return _fft_convolve_same(x, sinc_kernel(tau, x.shape[-1]))


def gaussian_filter(x: torch.Tensor, sigma_bins: torch.Tensor, truncate: float = 4.0) -> torch.Tensor:
    """Row-wise ``scipy.ndimage.gaussian_filter1d(x, σ, mode="constant", cval=0, truncate=4)``."""
    sig = sigma_bins.double().to(x.device)
    radius = torch.floor(truncate * sig + 0.5).long()  # int(truncate * sd + 0.5)
    # a kernel length that does not depend on the batch (PXRDNet's largest σ), so that a row's result is
    # the same in any batch; only rows with a larger σ widen it
    r_fixed = math.floor(truncate * SIGMA_RANGE_FRACTION[1] * PXRDNET_N_FINE + 0.5)
    r_max = max(int(radius.max()), r_fixed)
    offs = torch.arange(-r_max, r_max + 1, dtype=torch.float64, device=x.device)
    w = torch.exp(-0.5 * (offs[None, :] / sig[:, None]) ** 2)
    w = torch.where(offs.abs()[None, :] <= radius[:, None], w, torch.zeros_like(w))
    w = w / w.sum(dim=1, keepdim=True)
    return _fft_convolve_same(x, w)


def draw_sigma_bins(num: int, generator: torch.Generator | None = None, device="cpu") -> torch.Tensor:
    """σ ~ U[0.01, 0.011]·4096 bins, one per sample (PXRDNet draws it once per sample)."""
    lo, hi = (f * PXRDNET_N_FINE for f in SIGMA_RANGE_FRACTION)
    u = torch.rand(num, generator=generator, dtype=torch.float64, device=device)
    return lo + (hi - lo) * u


def pxrdnet_input_patterns(
    peaks: PeakTable,
    num_crystals: int | None = None,
    size_angstrom: float | torch.Tensor = math.inf,
    sigma_bins: torch.Tensor | None = None,
    noise_std: float = NOISE_STD,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
    gaussian: bool = True,
    compute_dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """PXRDNet's 512-point model input (B, 512) in [0, 1] on :func:`~grids.pxrdnet_input_q`.

    ``size_angstrom``: τ per crystal (float or (B,); inf = no sinc).  ``sigma_bins``: Gaussian σ in
    4096-grid bins per crystal (drawn from ``generator`` when None).  ``noise``: explicit (B, 512)
    additive noise; otherwise N(0, ``noise_std``) from ``generator`` (0 = none).
    ``gaussian=False`` is PXRDNet's "sinc only" ablation.  ``compute_dtype=torch.float32`` halves the
    cost of the convolutions (results agree to ~1e-6).
    """
    bsz = peaks.num_crystals if num_crystals is None else num_crystals
    dev = peaks.q_inv_angstrom.device
    x = stick_grid(peaks, PXRDNET_N_FINE).to(compute_dtype)
    tau = torch.as_tensor(size_angstrom, dtype=torch.float64, device=dev).expand(bsz)
    x = _convolve_sinc(x, tau)
    if gaussian:
        if sigma_bins is None:
            sigma_bins = draw_sigma_bins(bsz, generator, dev)
        x = gaussian_filter(x, torch.as_tensor(sigma_bins, dtype=torch.float64, device=dev).expand(bsz))
    x = x / x.max(dim=1, keepdim=True).values.clamp_min(1e-300)
    x = x.clamp_min(0.0)
    x = x.view(bsz, PXRDNET_N_INPUT, PXRDNET_N_FINE // PXRDNET_N_INPUT).max(dim=-1).values
    if noise is not None:
        x = x + noise.to(x)
    elif noise_std > 0:
        x = x + noise_std * torch.randn(x.shape, generator=generator, dtype=x.dtype, device=dev)
    return x.clamp(0.0, 1.0)


def pxrdnet_eval_patterns(
    peaks: PeakTable, num_crystals: int | None = None, size_angstrom: float | torch.Tensor | None = None,
    compute_dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """PXRDNet's 8192-point evaluation patterns (B, 8192) on :func:`~grids.pxrdnet_eval_q`."""
    bsz = peaks.num_crystals if num_crystals is None else num_crystals
    x = stick_grid(peaks, PXRDNET_N_EVAL).to(compute_dtype)
    if size_angstrom is not None:
        tau = torch.as_tensor(size_angstrom, dtype=torch.float64, device=x.device).expand(bsz)
        x = _convolve_sinc(x, tau)
    sig = torch.full((bsz,), float(EVAL_SIGMA_BINS), dtype=torch.float64, device=x.device)
    x = gaussian_filter(x, sig)
    x = x / x.max(dim=1, keepdim=True).values.clamp_min(1e-300)
    return x.clamp(0.0, 1.0)


def rwp_squared(target: torch.Tensor, predicted: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """PXRDNet's R_wp² = Σ(gt − pred)²/Σ gt² along the last axis (unit weights; optional mask)."""
    diff2 = (target - predicted) ** 2
    ref2 = target**2
    if mask is not None:
        diff2, ref2 = diff2 * mask, ref2 * mask
    return diff2.sum(-1) / ref2.sum(-1).clamp_min(1e-300)
