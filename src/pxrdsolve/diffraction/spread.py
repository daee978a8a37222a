"""Stick spectra by spreading onto a grid and one FFT (the non-uniform FFT of the refinement's renderer).

:func:`pxrdsolve.diffraction.profiles.stick_spectrum` sums S(k) = Σ_p I_p e^{−i k d_p} for k = 0..K−1
directly: P·K sines and cosines, and as many again in the backward pass.  The refinement renders a
thousand crystals of a thousand sticks each at every step, where that sum is most of the time.

Here every stick is spread onto a periodic grid of N ≫ K points with the cubic B-spline β₃ (four
taps), the grid is transformed with one real FFT, and each coefficient is divided by the spline's own
transform β̂₃(ω) = (sin(ω/2)/(ω/2))⁴, ω = 2πk/N.  By Poisson summation the result is S(k) plus alias
terms of relative size (ω/(2π − ω))⁴ ≤ (1/(σ − 1))⁴ for an oversampling σ = N/K (σ = 32: 10⁻⁶ at the
top frequency, far less below it, where the profile's transfer function carries the weight).  The
spline is twice differentiable; the gradients in the positions d_p carry alias terms of relative size
(1/(σ − 1))³ at the top frequency (3·10⁻⁵ for σ = 32), again far less where the profile has its weight.
Cost: 4P scatter-adds and B·N·log N for the FFT instead of 2·P·K transcendental functions.
"""

from __future__ import annotations

import math

import torch

OVERSAMPLING = 32
MAX_GRID_ELEMENTS = 1 << 23  # crystals × grid points per FFT call (64 MiB of float64)


def _nice_length(n: int) -> int:
    """The smallest even 2^a·3^b·5^c ≥ n (fast FFT sizes)."""
    m = max(2, n + (n % 2))
    while True:
        r = m
        for p in (2, 3, 5):
            while r % p == 0:
                r //= p
        if r == 1:
            return m
        m += 2


def spread_length(n_freq: int, oversampling: int = OVERSAMPLING) -> int:
    """Grid length N used for ``n_freq`` coefficients."""
    return _nice_length(max(64, oversampling * n_freq))


def spread_pays(n_sticks: int, num_crystals: int, n_freq: int) -> bool:
    """Whether spreading + FFT (≈ B·N·log₂N + 8P operations) costs less than the direct sum (≈ 2P·K)."""
    n = spread_length(n_freq)
    return num_crystals * n * math.log2(n) / 4.0 + 8.0 * n_sticks < n_sticks * n_freq


def stick_spectrum_spread(
    d: torch.Tensor, intensity: torch.Tensor, crystal_index: torch.Tensor, num_crystals: int, n_freq: int,
    oversampling: int = OVERSAMPLING,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Σ_p I_p cos(d_p k), Σ_p I_p sin(d_p k) for k = 0..n_freq−1 per crystal (two (B, n_freq) tensors), as
    :func:`~pxrdsolve.diffraction.profiles.stick_spectrum` to a relative ~(1/(σ−1))⁴ (module docstring).

    ``d`` (P,) phase per unit frequency (rad; any real value: the grid is periodic in 2π), ``intensity`` (P,),
    ``crystal_index`` (P,) in [0, B).  Differentiable in ``d`` and ``intensity``."""
    dev = d.device
    n = spread_length(n_freq, oversampling)
    per_call = max(1, MAX_GRID_ELEMENTS // n)
    if num_crystals > per_call and crystal_index.numel():
        order = torch.argsort(crystal_index, stable=True)
        d, intensity, crystal_index = d[order], intensity[order], crystal_index[order]
        bounds = torch.searchsorted(crystal_index, torch.arange(0, num_crystals + per_call, per_call,
                                                                device=dev)).tolist()
        parts = []
        for g, b0 in enumerate(range(0, num_crystals, per_call)):
            s0, s1 = bounds[g], bounds[g + 1]
            nb = min(per_call, num_crystals - b0)
            parts.append(_spread_block(d[s0:s1], intensity[s0:s1], crystal_index[s0:s1] - b0, nb, n_freq, n))
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
    return _spread_block(d, intensity, crystal_index, num_crystals, n_freq, n)


def _spread_block(d, intensity, crystal_index, num_crystals: int, n_freq: int, n: int):
    dev, dtype = d.device, d.dtype
    u = d * (n / (2.0 * math.pi))
    base = torch.floor(u.detach())
    t = u - base
    t2, t3 = t * t, t * t * t
    w = torch.stack([(1.0 - t) ** 3, 3.0 * t3 - 6.0 * t2 + 4.0, -3.0 * t3 + 3.0 * t2 + 3.0 * t + 1.0, t3], 1) / 6.0
    taps = (base.long()[:, None] + torch.arange(-1, 3, device=dev)[None, :]) % n  # (P, 4)
    flat = (crystal_index[:, None] * n + taps).reshape(-1)
    grid = torch.zeros(num_crystals * n, dtype=dtype, device=dev)
    grid = grid.index_add(0, flat, (intensity[:, None] * w).reshape(-1)).view(num_crystals, n)
    coeff = torch.fft.rfft(grid, dim=-1)[:, :n_freq]
    half = math.pi / n * torch.arange(n_freq, dtype=dtype, device=dev)
    sinc = torch.where(half > 0, torch.sin(half) / half.clamp_min(1e-300), torch.ones_like(half))
    inv = 1.0 / sinc**4
    return coeff.real * inv, -coeff.imag * inv
