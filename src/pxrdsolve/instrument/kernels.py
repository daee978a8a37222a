"""Elementwise peak-shape kernels: sinc² size profile convolved with a Lorentzian or a Gaussian.

All kernels are area-normalised densities in an offset variable Δ (any unit: 2θ degrees or Q Å⁻¹)
and work on float64 tensors of any (broadcastable) shape.  With a = 2τ (τ the size parameter in
the units of 1/Δ, PXRDNet convention K(Δ) = (τ/π)·sinc²(τΔ), whose Fourier transform is the
triangle max(0, 1 − |x|/a)):

* ``sinc2_lorentz(Δ, γ, 1/a)`` = K ⊗ L_γ, L_γ(Δ) = (γ/π)/(Δ² + γ²) (γ = HWHM), in closed form
  (1/π)·Re[1/z − (1 − e^{−za})/(a z²)], z = γ − iΔ;
* ``sinc2_gauss(Δ, σ, 1/a)`` = K ⊗ G_σ (σ = standard deviation) from the Faddeeva function w:
  (1/π)·Re[I₀(1 − iΔ/(aσ²)) − (1 − e^{−b²+iaΔ})/(aσ²)], I₀ = √(π/2)/σ·[w(k) − e^{−b²+iaΔ} w(k+ib)],
  k = Δ/(√2σ), b = σa/√2; for b < 0.5 (Gaussian much narrower than the size profile, where that
  form cancels) a 10-point Gauss–Hermite average of K is used instead;
* 1/a = 0 (τ = ∞) gives the plain Lorentzian / Gaussian.

``faddeeva`` is Weideman's (1994) rational approximation with 24 terms (relative error < 1e-9 in the
closed upper half plane) with an analytic derivative w'(z) = −2z·w(z) + 2i/√π for autograd.
"""

from __future__ import annotations

import math

import numpy as np
import torch

_N_WEIDEMAN = 24
GH_SWITCH_B = 0.5  # below this b = σa/√2 the Gaussian branch uses Gauss–Hermite quadrature


def _weideman_coefficients(n: int) -> tuple[float, list[float]]:
    m = 2 * n
    k = np.arange(-m + 1, m)
    lam = math.sqrt(n / math.sqrt(2.0))
    t = lam * np.tan(k * np.pi / m / 2.0)
    f = np.concatenate([[0.0], np.exp(-(t**2)) * (lam**2 + t**2)])
    a = np.real(np.fft.fft(np.fft.fftshift(f))) / (2 * m)
    return lam, list(np.flipud(a[1 : n + 1]))


_L, _COEF = _weideman_coefficients(_N_WEIDEMAN)
_INV_SQRT_PI = 1.0 / math.sqrt(math.pi)


def _faddeeva_value(z: torch.Tensor) -> torch.Tensor:
    den = _L - 1j * z
    zz = (_L + 1j * z) / den
    p = torch.full_like(zz, _COEF[0])
    for c in _COEF[1:]:
        p = p * zz + c
    return 2.0 * p / den**2 + _INV_SQRT_PI / den


class _Faddeeva(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        w = _faddeeva_value(z)
        ctx.save_for_backward(z, w)
        return w

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        z, w = ctx.saved_tensors
        dw = -2.0 * z * w + 2j * _INV_SQRT_PI
        return grad * dw.conj()  # holomorphic: PyTorch's convention grad·conj(f')


def faddeeva(z: torch.Tensor) -> torch.Tensor:
    """w(z) = e^{−z²} erfc(−iz) for complex128 ``z`` with Im z ≥ 0 (differentiable)."""
    return _Faddeeva.apply(z)


def sinc2(delta: torch.Tensor, inv_a: torch.Tensor) -> torch.Tensor:
    """K(Δ) = (τ/π)·sinc²(τΔ), τ = 1/(2·inv_a) (inv_a > 0)."""
    tau = 0.5 / inv_a
    return tau / math.pi * torch.sinc(tau * delta / math.pi) ** 2


def lorentz(delta: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """Lorentzian of HWHM γ: (γ/π)/(Δ² + γ²)."""
    return gamma / (math.pi * (delta**2 + gamma**2))


def gauss(delta: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Gaussian of standard deviation σ."""
    return torch.exp(-0.5 * (delta / sigma) ** 2) / (sigma * math.sqrt(2.0 * math.pi))


def sinc2_lorentz(delta: torch.Tensor, gamma: torch.Tensor, inv_a: torch.Tensor) -> torch.Tensor:
    """(sinc² size ⊗ Lorentzian of HWHM γ)(Δ); inv_a = 1/(2τ) > 0; γ ≥ 0 (γ = 0: pure sinc²)."""
    a = 1.0 / inv_a
    z = torch.complex(gamma.expand_as(delta).contiguous(), -delta)
    u = z * a
    small = u.abs() < 0.05
    u_safe = torch.where(small, torch.ones_like(u), u)
    z_safe = torch.where(small, torch.ones_like(z), z)
    direct = 1.0 / z_safe - inv_a * (1.0 - torch.exp(-u_safe)) / z_safe**2
    # ψ(u) = (u − 1 + e^{−u})/u² = Σ (−u)^n/(n+2)!, times a
    us = torch.where(small, u, torch.zeros_like(u))
    series = torch.zeros_like(us)
    for n in range(9, -1, -1):
        series = series * (-us) + 1.0 / math.factorial(n + 2)
    val = torch.where(small, series * a, direct)
    return val.real / math.pi


_GH_X, _GH_W = np.polynomial.hermite.hermgauss(10)


def sinc2_gauss_hermite(delta: torch.Tensor, sigma: torch.Tensor, inv_a: torch.Tensor) -> torch.Tensor:
    """(sinc² ⊗ Gaussian σ)(Δ) by 10-point Gauss–Hermite quadrature (accurate for σ ≪ 1/τ)."""
    out = torch.zeros_like(delta)
    for x, wt in zip(_GH_X, _GH_W):
        out = out + (wt / math.sqrt(math.pi)) * sinc2(delta - math.sqrt(2.0) * x * sigma, inv_a)
    return out


def sinc2_gauss_faddeeva(delta: torch.Tensor, sigma: torch.Tensor, inv_a: torch.Tensor) -> torch.Tensor:
    """(sinc² ⊗ Gaussian σ)(Δ) in closed form with the Faddeeva function (for b = σa/√2 ≳ 0.5)."""
    a = 1.0 / inv_a
    k = delta / (math.sqrt(2.0) * sigma)
    b = (sigma * a / math.sqrt(2.0)).expand_as(delta)
    zeros = torch.zeros_like(k)
    both = faddeeva(torch.complex(torch.cat([k, k]), torch.cat([zeros, b])))
    w_k, w_kb = both[: k.numel()].view_as(k), both[k.numel():].view_as(k)
    phase = torch.polar(torch.exp(-(b**2)), a * delta)  # e^{−b²+iaΔ}
    i0 = (math.sqrt(math.pi / 2.0) / sigma) * (w_k - phase * w_kb)
    c = inv_a / sigma**2
    val = i0 * torch.complex(torch.ones_like(delta), -delta * c) - c * (1.0 - phase)
    return val.real / math.pi


def tch_mix(fwhm_gauss: torch.Tensor, fwhm_lorentz: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Thompson–Cox–Hastings pseudo-Voigt: (total FWHM Γ, Lorentzian fraction η) from Γ_G, Γ_L.

    Γ⁵ = Γ_G⁵ + 2.69269Γ_G⁴Γ_L + 2.42843Γ_G³Γ_L² + 4.47163Γ_G²Γ_L³ + 0.07842Γ_GΓ_L⁴ + Γ_L⁵;
    η = 1.36603q − 0.47719q² + 0.11116q³, q = Γ_L/Γ.
    """
    g, lz = fwhm_gauss, fwhm_lorentz
    gam5 = (g**5 + 2.69269 * g**4 * lz + 2.42843 * g**3 * lz**2 + 4.47163 * g**2 * lz**3
            + 0.07842 * g * lz**4 + lz**5)
    gam = gam5.clamp_min(1e-300) ** 0.2
    q = lz / gam
    eta = 1.36603 * q - 0.47719 * q**2 + 0.11116 * q**3
    return gam, eta


def fcj_nodes(two_theta_deg: torch.Tensor, sh_l: torch.Tensor, order: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Finger–Cox–Jephcoat axial-divergence asymmetry as ``order`` shifted copies of the profile.

    GSAS-II's SH/L = S/L + H/L with S/L = H/L.  The observed profile is ∫ W(2φ) P(2θ_obs − 2φ) d2φ
    over 2φ_min ≤ 2φ ≤ 2θ, W = (SH/L·F − 1)/cos 2φ, F = |cos 2θ|/√(cos² 2φ − cos² 2θ),
    cos 2φ_min = √(1 + (SH/L)²)·|cos 2θ| (FCJ 1994, eqs 4–7); above 90° it is mirrored.  The
    1/√ singularity at 2φ = 2θ is removed by 2θ − 2φ = D·s² and the integral over s ∈ (0, 1)
    taken by Gauss–Legendre quadrature.  ``order = 1`` keeps a single copy at the centroid (the
    first moment of W).  Returns shifts (…, order) in degrees 2θ and normalised weights (…, order).
    """
    xs, ws = np.polynomial.legendre.leggauss(8 if order == 1 else order)
    s = torch.as_tensor(0.5 * (xs + 1.0), dtype=two_theta_deg.dtype, device=two_theta_deg.device)
    gw = torch.as_tensor(0.5 * ws, dtype=two_theta_deg.dtype, device=two_theta_deg.device)
    tt = torch.deg2rad(two_theta_deg)
    mirror = tt > math.pi / 2
    t1 = torch.where(mirror, math.pi - tt, tt)  # ≤ 90°
    c2 = torch.cos(t1)
    shl = sh_l.clamp_min(1e-12)
    arg = torch.sqrt(1.0 + shl**2) * c2
    emin = torch.acos(arg.clamp(max=1.0 - 1e-15))
    span = (t1 - emin).clamp_min(1e-15)  # D, rad
    delta = t1[..., None] - span[..., None] * s**2
    cosd = torch.cos(delta)
    den = (cosd**2 - (c2**2)[..., None]).clamp_min(1e-300)
    f = c2[..., None] / torch.sqrt(den)
    wdens = ((shl[..., None] * f - 1.0).clamp_min(0.0) / cosd) * (2.0 * span[..., None] * s)
    wts = gw * wdens
    wts = wts / wts.sum(-1, keepdim=True).clamp_min(1e-300)
    shift = -torch.rad2deg(span[..., None] * s**2)
    shift = torch.where(mirror[..., None], -shift, shift)
    if order == 1:
        return (wts * shift).sum(-1, keepdim=True), torch.ones_like(shift[..., :1])
    return shift, wts


def fcj_span_deg(two_theta_deg: float | np.ndarray, sh_l: float | np.ndarray) -> np.ndarray:
    """Extent 2θ − 2φ_min (degrees) of the FCJ asymmetric tail (numpy, for windows and orders)."""
    tt = np.deg2rad(np.asarray(two_theta_deg, dtype=float))
    t1 = np.where(tt > np.pi / 2, np.pi - tt, tt)
    arg = np.sqrt(1.0 + np.asarray(sh_l, dtype=float) ** 2) * np.cos(t1)
    return np.rad2deg(t1 - np.arccos(np.clip(arg, -1.0, 1.0)))
