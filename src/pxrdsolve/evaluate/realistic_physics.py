"""Physics of the measured-like targets, numpy only and independent of the solver's simulator and fit.

Reflections: every reciprocal-lattice point G = hB (B rows = reciprocal basis incl. 2π) with
0 < |G| ≤ Q_max, one by one (no merging of equivalents, so a March–Dollase factor can differ
between members of a family), F(h) = Σ_j occ_j f_j(s) exp(−B_iso s²) exp(2πi h·x_j) with s = Q/(4π)
Å⁻¹ and pymatgen's 4-Gaussian form-factor table (the same table pymatgen's ``XRDCalculator`` uses:
f = Z − 41.78214 s² Σ a_i exp(−b_i s²)).  Peak intensity per source line:
I = w_line |F|² LP(θ) P_MD(h), LP = P(2θ)/(sin²θ cosθ) with P = (1 + cos²2θ)/2 (unpolarised lab beam)
or 0.95 + 0.05 cos²2θ (synchrotron, beam polarised normal to the scattering plane).

Profile of one peak (2θ in degrees, δ = offset from the peak): the numerical convolution, on a fine
grid of step FWHM/24, of
  S: the size profile in PXRDNet's convention, τ sinc²(τ(Q(2θ) − Q_hkl))/π per Å⁻¹ (sinc x = sin x/x,
     area 1 in Q), mapped exactly to 2θ with the Jacobian dQ/d2θ (absent for a bulk sample);
  G: a Gaussian of FWHM² = U tan²θ + V tanθ + W (Caglioti, deg²);
  L: a Lorentzian of FWHM = X/cosθ + Y tanθ (deg);
  A: axial divergence, a triangle falling from the peak to zero at w = A·|cot 2θ| (capped at 2°)
     on the low-angle side below 2θ = 90°, the high-angle side above;
each discretised as the exact mass per grid bin (CDF differences; S by 8-point sub-sampling) and
renormalised to unit mass within ±30 FWHM.  The composite, area 1 in degrees 2θ, is then placed
at 2θ_hkl + zero shift − (2 s cosθ/R)·180/π (sample displacement s, goniometer radius R, mm) and
averaged over each detector step.
"""

from __future__ import annotations

import math

import numpy as np

FWHM_SAMPLES = 24  # fine-grid points per FWHM
WINDOW_FWHM = 30.0  # half-width of a peak's kernel, FWHM
MAX_AXIAL_DEG = 2.0
SINC2_HALF_X = 1.39156  # sinc²(x) = 1/2 at x = 1.39156
MIN_REL_INTENSITY = 1e-6  # peaks weaker than this fraction of the strongest are dropped


def reciprocal_basis(lattice_angstrom: np.ndarray) -> np.ndarray:
    """Rows b_i with a_i·b_j = 2π δ_ij (Å⁻¹) for direct lattice rows a_i (Å)."""
    return 2.0 * np.pi * np.linalg.inv(np.asarray(lattice_angstrom, float)).T


def form_factor(symbol: str, s_inv_angstrom: np.ndarray) -> np.ndarray:
    """X-ray form factor (electrons) at s = sinθ/λ = Q/(4π) Å⁻¹, pymatgen's table and formula."""
    from pymatgen.analysis.diffraction.xrd import ATOMIC_SCATTERING_PARAMS
    from pymatgen.core.periodic_table import Element

    coeff = np.asarray(ATOMIC_SCATTERING_PARAMS[symbol], float)
    s2 = s_inv_angstrom**2
    return Element(symbol).Z - 41.78214 * s2 * np.sum(coeff[:, 0, None] * np.exp(-coeff[:, 1, None] * s2), axis=0)


def reflections(structure, q_max_inv_angstrom: float, b_iso_angstrom2: float = 0.0) -> tuple[np.ndarray, ...]:
    """(hkl (M, 3) int, Q (M,) Å⁻¹, |F|² (M,) electrons²) of every G with 0 < |G| ≤ Q_max, both Friedel
    mates, of a pymatgen ``Structure`` (occupancies and mixed sites included)."""
    lat = np.asarray(structure.lattice.matrix, float)
    rb = reciprocal_basis(lat)
    n = [int(math.ceil(q_max_inv_angstrom * np.linalg.norm(lat[i]) / (2 * np.pi))) + 1 for i in range(3)]
    grids = np.meshgrid(*[np.arange(-k, k + 1) for k in n], indexing="ij")
    hkl = np.stack([g.ravel() for g in grids], axis=1)
    q = np.linalg.norm(hkl @ rb, axis=1)
    keep = (q > 1e-9) & (q <= q_max_inv_angstrom)
    hkl, q = hkl[keep], q[keep]
    s = q / (4 * np.pi)
    dw = np.exp(-b_iso_angstrom2 * s**2)
    f_total = np.zeros(len(q), complex)
    frac = np.asarray(structure.frac_coords, float)
    for j, site in enumerate(structure):
        phase = np.exp(2j * np.pi * (hkl @ frac[j]))
        for sp, occ in site.species.items():
            f_total += occ * form_factor(sp.symbol, s) * dw * phase
    return hkl, q, np.abs(f_total) ** 2


def march_dollase(hkl: np.ndarray, lattice_angstrom: np.ndarray, pref_hkl: tuple[int, int, int] | None,
                  r: float | None) -> np.ndarray:
    """March–Dollase factor (r² cos²α + sin²α/r)^(−3/2), α between G_hkl and G_pref (1 when off)."""
    if pref_hkl is None or r is None or r == 1.0:
        return np.ones(len(hkl))
    rb = reciprocal_basis(lattice_angstrom)
    g = hkl @ rb
    p = np.asarray(pref_hkl, float) @ rb
    cos = (g @ p) / (np.linalg.norm(g, axis=1) * np.linalg.norm(p))
    cos2 = np.clip(cos**2, 0.0, 1.0)
    return (r**2 * cos2 + (1.0 - cos2) / r) ** -1.5


def polarisation(two_theta_rad: np.ndarray, kind: str) -> np.ndarray:
    """Polarisation factor: ``unpolarised`` (1 + cos²2θ)/2, ``synchrotron`` 0.95 + 0.05 cos²2θ."""
    c2 = np.cos(two_theta_rad) ** 2
    if kind == "synchrotron":
        return 0.95 + 0.05 * c2
    return 0.5 * (1.0 + c2)


def line_peaks(q: np.ndarray, intensity_no_lp: np.ndarray, wavelength_angstrom: float, weight: float,
               polarisation_kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(2θ deg, Q, I) of one source line: reflections of equal Q merged (to 10⁻⁹ Å⁻¹), LP applied."""
    sin_t = wavelength_angstrom * q / (4 * np.pi)
    ok = sin_t < 0.9999
    q, inten, sin_t = q[ok], intensity_no_lp[ok], sin_t[ok]
    theta = np.arcsin(sin_t)
    lp = polarisation(2 * theta, polarisation_kind) / (sin_t**2 * np.cos(theta))
    key = np.round(q * 1e9).astype(np.int64)
    uniq, inv = np.unique(key, return_inverse=True)
    i_sum = np.bincount(inv, weights=weight * inten * lp)
    q_u = np.bincount(inv, weights=q) / np.bincount(inv)
    tt = np.degrees(2 * np.arcsin(wavelength_angstrom * q_u / (4 * np.pi)))
    strong = i_sum > MIN_REL_INTENSITY * i_sum.max() if len(i_sum) else i_sum > 0
    return tt[strong], q_u[strong], i_sum[strong]


def _gauss_cdf(x: np.ndarray, fwhm: float) -> np.ndarray:
    from scipy.special import erf

    sigma = fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    return 0.5 * (1.0 + erf(x / (sigma * math.sqrt(2.0))))


def _lorentz_cdf(x: np.ndarray, fwhm: float) -> np.ndarray:
    return 0.5 + np.arctan(x / (0.5 * fwhm)) / np.pi


def _triangle_cdf(x: np.ndarray, w: float, side: float) -> np.ndarray:
    """CDF of density 2(w − |δ|)/w² on δ ∈ [−w, 0] (side −1) or [0, w] (side +1)."""
    if side < 0:
        return np.where(x <= -w, 0.0, np.where(x >= 0, 1.0, ((w + x) / w) ** 2))
    return np.where(x <= 0, 0.0, np.where(x >= w, 1.0, 1.0 - ((w - x) / w) ** 2))


def _bin_mass(cdf, delta: np.ndarray, h: float) -> np.ndarray:
    m = cdf(delta + h / 2) - cdf(delta - h / 2)
    total = m.sum()
    return m / total if total > 0 else m


def peak_kernel(two_theta_deg: float, q_peak: float, wavelength_angstrom: float, size_angstrom: float | None,
                caglioti: tuple[float, float, float], lorentz_xy: tuple[float, float], axial_deg: float,
                span_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """(δ offsets in degrees, density per degree, area 1) of the composite profile of one peak at 2θ;
    ``span_deg`` caps the kernel's half-width (the data range)."""
    from scipy.signal import fftconvolve

    theta = math.radians(two_theta_deg / 2)
    u, v, w = caglioti
    fwhm_g = math.sqrt(max(u * math.tan(theta) ** 2 + v * math.tan(theta) + w, 1e-10))
    fwhm_l = lorentz_xy[0] / math.cos(theta) + lorentz_xy[1] * math.tan(theta)
    cot2 = abs(1.0 / math.tan(2 * theta)) if abs(math.tan(2 * theta)) > 1e-12 else 1e12
    w_ax = min(axial_deg * cot2, MAX_AXIAL_DEG)
    side = -1.0 if two_theta_deg < 90.0 else 1.0
    dq_d2t = (2 * math.pi / wavelength_angstrom) * math.cos(theta) * math.pi / 180.0  # Å⁻¹ per degree
    fwhm_s = 2 * SINC2_HALF_X / size_angstrom / dq_d2t if size_angstrom else 0.0
    fwhm = fwhm_g + fwhm_l + fwhm_s + 0.5 * w_ax
    h = fwhm / FWHM_SAMPLES
    half = min(WINDOW_FWHM * fwhm + w_ax, span_deg)
    n = int(math.ceil(half / h))
    delta = np.arange(-n, n + 1) * h
    parts = [_bin_mass(lambda x: _gauss_cdf(x, fwhm_g), delta, h)]
    if fwhm_l > 1e-9:
        parts.append(_bin_mass(lambda x: _lorentz_cdf(x, fwhm_l), delta, h))
    if w_ax > 1e-3 * h:
        parts.append(_bin_mass(lambda x: _triangle_cdf(x, w_ax, side), delta, h))
    if size_angstrom:
        sub = (np.arange(8) + 0.5) / 8 - 0.5
        tt = two_theta_deg + delta[:, None] + sub[None, :] * h
        inside = (tt > 0) & (tt < 180)
        q = 4 * np.pi * np.sin(np.radians(np.clip(tt, 1e-6, 179.999) / 2)) / wavelength_angstrom
        x = size_angstrom * (q - q_peak)
        sinc2 = np.where(np.abs(x) < 1e-8, 1.0, np.sin(x) ** 2 / np.where(x == 0, 1.0, x) ** 2)
        jac = (2 * np.pi / wavelength_angstrom) * np.cos(np.radians(tt / 2)) * np.pi / 180.0
        dens = np.where(inside, size_angstrom * sinc2 / np.pi * jac, 0.0).mean(axis=1)
        parts.append(dens / dens.sum())
    mass = parts[0]
    for p in parts[1:]:
        mass = np.clip(fftconvolve(mass, p, mode="same"), 0.0, None)
    return delta, mass / (mass.sum() * h)


def render_peaks(two_theta_grid_deg: np.ndarray, peak_two_theta_deg: np.ndarray, q_peaks: np.ndarray,
                 intensities: np.ndarray, wavelength_angstrom: float, size_angstrom: float | None,
                 caglioti: tuple[float, float, float], lorentz_xy: tuple[float, float], axial_deg: float,
                 zero_shift_deg: float, displacement_mm: float, radius_mm: float) -> np.ndarray:
    """Σ_k I_k · (composite profile of peak k averaged over each detector step), on an equally spaced
    ascending 2θ grid (degrees); peaks farther than a kernel half-width from the grid are skipped."""
    grid = np.asarray(two_theta_grid_deg, float)
    step = float(grid[1] - grid[0])
    lo, hi = float(grid[0]), float(grid[-1])
    span = hi - lo + 1.0
    y = np.zeros_like(grid)
    for tt, qk, ik in zip(peak_two_theta_deg, q_peaks, intensities):
        theta = math.radians(tt / 2)
        centre = tt + zero_shift_deg - math.degrees(2 * displacement_mm * math.cos(theta) / radius_mm)
        delta, dens = peak_kernel(tt, qk, wavelength_angstrom, size_angstrom, caglioti, lorentz_xy, axial_deg,
                                  span)
        x = centre + delta
        if x[-1] < lo - step or x[0] > hi + step:
            continue
        h = float(delta[1] - delta[0])
        sel = slice(max(0, int(np.searchsorted(grid, x[0])) - 1), int(np.searchsorted(grid, x[-1])) + 1)
        g = grid[sel]
        if h * 2 <= step:  # average the density over each detector step via its cumulative integral
            cum = np.concatenate([[0.0], np.cumsum(dens) * h])
            edges = np.concatenate([[x[0] - h / 2], x + h / 2])
            c_hi = np.interp(g + step / 2, edges, cum)
            c_lo = np.interp(g - step / 2, edges, cum)
            y[sel] += ik * (c_hi - c_lo) / step
        else:  # the density is smooth on the detector step: sample it
            y[sel] += ik * np.interp(g, x, dens, left=0.0, right=0.0)
    return y


def chebyshev_background(two_theta_grid_deg: np.ndarray, coefficients: tuple[float, ...]) -> np.ndarray:
    """Σ c_i T_i(x) with x mapping the grid's range onto [−1, 1]."""
    g = np.asarray(two_theta_grid_deg, float)
    x = 2 * (g - g[0]) / (g[-1] - g[0]) - 1
    return np.polynomial.chebyshev.chebval(x, np.asarray(coefficients, float))


def amorphous_hump(two_theta_grid_deg: np.ndarray, wavelength_angstrom: float, q_centre: float, q_sigma: float,
                   height: float) -> np.ndarray:
    """A Gaussian hump in Q (Å⁻¹) of the given height, as glass or an amorphous fraction give."""
    q = 4 * np.pi * np.sin(np.radians(np.asarray(two_theta_grid_deg, float) / 2)) / wavelength_angstrom
    return height * np.exp(-0.5 * ((q - q_centre) / q_sigma) ** 2)
