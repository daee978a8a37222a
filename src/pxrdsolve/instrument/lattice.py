"""Fast evaluation of peak profiles: each peak on its own fine lattice by an inverse FFT.

Every peak p gets a uniform lattice Δ_j = (j − N/2)·h_p (h_p ≈ FWHM_p/16, N from a few lengths)
on which its profile is the inverse Fourier transform of the product of transfer functions

    T(x) = max(0, 1 − x/2τ_t) · [η e^{−γ|x|} + (1 − η) e^{−σ²x²/2}] · Σ_j ω_j e^{−ixδ_j}

(sinc² size · TCH pseudo-Voigt · FCJ copies), exact at the lattice points up to periodic images,
whose mean 1/Δ² tails A·[(π/L)²/sin²(πΔ/L) − 1/Δ²] (L = N·h_p) are subtracted.  The data points
inside the window are then read off by Catmull–Rom (C¹ cubic) interpolation, so the result is
smooth and differentiable in the position; all other parameters enter through T.
"""

from __future__ import annotations

import math

import torch

LATTICE_PER_FWHM = 16.0  # interpolated lattices (non-uniform grids)
ALIGNED_PER_FWHM = 8.0  # lattices read at their own points (uniform grids)
_LENGTHS = (64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096)


def lattice_length(half_extent_over_h: float) -> int:
    """Smallest allowed lattice length N with N/2 − 3 ≥ the half extent (in lattice steps)."""
    need = 2 * (math.ceil(half_extent_over_h) + 3)
    return next((n for n in _LENGTHS if n >= need), _LENGTHS[-1])


def quantised_step(fwhm, per_fwhm: float = LATTICE_PER_FWHM):
    """Lattice step h ≈ FWHM/per_fwhm rounded down to a quarter octave (so that small parameter
    changes keep the same lattice; numpy in, numpy out)."""
    import numpy as np

    raw = np.asarray(fwhm, dtype=float) / per_fwhm
    return np.exp2(np.floor(np.log2(raw) * 4.0) / 4.0)


def peak_lattices(inten, eta, gam, sig, inv_a, shift, wts, h, n: int, offset=None) -> torch.Tensor:
    """I_p·Φ_p (periodic, period n·h_p) at Δ_j = (j − n/2)·h_p + offset_p, j = 0…n−1: (P_g, n).

    Per-peak tensors are (P_g,), ``shift``/``wts`` (P_g, K) FCJ copies, ``h`` (P_g,) lattice steps
    (constants), ``offset`` (P_g,) a sub-step shift of the lattice (applied by the shift theorem).
    """
    k = torch.arange(n // 2 + 1, dtype=inten.dtype, device=inten.device)
    x = (2.0 * math.pi / (n * h))[:, None] * k  # (P, F) rad per t unit
    tri = (1.0 - x * inv_a[:, None]).clamp_min(0.0)
    e = eta[:, None]
    pv = e * torch.exp(-gam[:, None] * x) + (1.0 - e) * torch.exp(-0.5 * (sig[:, None] * x) ** 2)
    amp = tri * pv * torch.where(k.long() % 2 == 1, -1.0, 1.0) * (inten / h)[:, None]  # (−1)^k: Δ = 0 at n/2
    sh = shift if offset is None else shift - offset[:, None]
    if sh.shape[1] == 1:
        ang = -x * sh
        re, im = torch.cos(ang), torch.sin(ang)
    else:
        ang = -x[:, :, None] * sh[:, None, :]
        re = (wts[:, None, :] * torch.cos(ang)).sum(-1)
        im = (wts[:, None, :] * torch.sin(ang)).sum(-1)
    return torch.fft.irfft(torch.complex(amp * re, amp * im), n=n)


def _corrections(delta, coef, period, tail_model, half):
    """Periodic images of the mean tails A/Δ² (to subtract), plus the smooth tail model T if given."""
    tiny = delta.detach().abs() < 1e-12
    d = torch.where(tiny, torch.ones_like(delta), delta)
    images = (math.pi / period) ** 2 / torch.sin(math.pi * d / period) ** 2 - 1.0 / d**2
    images = torch.where(tiny, (math.pi**2 / 3.0) / period**2, images)
    out = coef * images
    if tail_model is not None:
        out = out + tail_model(delta, coef, half)
    return out


def lattice_chunk(t_grid, g_idx, p_idx, t, inten, eta, gam, sig, inv_a, shift, wts, tail_coef, h, n: int,
                  tail_model=None, half=None):
    """Values (pairs,) I_p·Φ_p(t_g − t_p) for pairs (g_idx, p_idx) by Catmull–Rom interpolation
    (``tail_coef`` = I_p·A_p; the smooth ``tail_model`` is subtracted, the caller adds it back)."""
    lat = peak_lattices(inten, eta, gam, sig, inv_a, shift, wts, h, n)
    delta = t_grid.index_select(0, g_idx) - t.index_select(0, p_idx)
    hp = h.index_select(0, p_idx)
    u = delta / hp + n // 2
    i0 = torch.floor(u.detach()).long().clamp(1, n - 3)
    f = u - i0.to(u.dtype)
    f2, f3 = f * f, f * f * f
    base = p_idx * n + i0
    flat = lat.reshape(-1)

    def at(o: int) -> torch.Tensor:
        return flat.index_select(0, base + o)

    val = (at(-1) * (-f3 + 2.0 * f2 - f) + at(0) * (3.0 * f3 - 5.0 * f2 + 2.0)
           + at(1) * (-3.0 * f3 + 4.0 * f2 + f) + at(2) * (f3 - f2)) * 0.5
    return val - _corrections(delta, tail_coef.index_select(0, p_idx), n * hp, tail_model,
                              None if half is None else half.index_select(0, p_idx))


def aligned_chunk(t_grid, g_idx, p_idx, t, inten, eta, gam, sig, inv_a, shift, wts, tail_coef, h, n: int,
                  tail_model, half, g_near, m):
    """Values (pairs,) on a uniform grid: the lattice (step h = grid step/m) is shifted so that the
    grid points are lattice points (exact, no interpolation); ``g_near`` (P_g,) nearest grid index."""
    offset = t_grid.index_select(0, g_near) - t  # (P,) in [−step/2, step/2]
    lat = peak_lattices(inten, eta, gam, sig, inv_a, shift, wts, h, n, offset)
    j = n // 2 + (g_idx - g_near.index_select(0, p_idx)) * m.index_select(0, p_idx)
    val = lat.reshape(-1).index_select(0, p_idx * n + j)
    delta = t_grid.index_select(0, g_idx) - t.index_select(0, p_idx)
    return val - _corrections(delta, tail_coef.index_select(0, p_idx), n * h.index_select(0, p_idx),
                              tail_model, None if half is None else half.index_select(0, p_idx))
