"""The refinement objective: a measured pattern prepared for fitting, the batched forward model, the
linear scale + background solve and the fit metrics.

Model of the observed intensity at each measured point Q_i (Å⁻¹):

    y_calc(Q_i) = s · P(Q_i; cell, frac, τ, zero) / max P + Σ_k c_k T_k(x_i),

P the simulated profile (every source line, sinc² size kernel τ in Å, instrument pseudo-Voigt),
T_k Chebyshev polynomials of x ∈ [−1, 1] over the measured Q range.  The scale s ≥ 0 and the
background coefficients c_k are solved per candidate by weighted linear least squares (closed form,
differentiable), so gradient steps move only the non-linear parameters.  Weights: 1/esd² with esds,
1/max(I, floor) for counts (Poisson-like), unit weights for normalised patterns.  Only measured
points enter: the fit grid *is* the measured points (averaged in groups of consecutive points when
there are more than ``max_points``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pxrdsolve.diffraction.radiation import Radiation
from pxrdsolve.instrument.model import Instrument
from pxrdsolve.ops.scatter import scatter_sum
from pxrdsolve.solve.fit_ranges import select_ranges

DEFAULT_WAVELENGTH_ANGSTROM = 1.54184  # Q-axis data without a wavelength: LP at Cu Kα (PXRDNet) ...
MAX_DEFAULT_TWO_THETA_DEG = 90.0  # ... or shorter, so that the fitted Q range stays below 2θ = 90° (as PXRDNet)


def default_wavelength(q_max_inv_angstrom: float) -> float:
    """Wavelength (Å) assumed for the Lorentz–polarisation factor of Q-axis data that state none: Cu Kα,
    or shorter when the data reach high Q (a synchrotron or total-scattering scan), so that the fitted
    range ends below 2θ = 90° (PXRDNet's range at Cu) instead of near back-scattering, where LP diverges."""
    limit = 4.0 * math.pi * math.sin(math.radians(MAX_DEFAULT_TWO_THETA_DEG / 2.0)) / max(q_max_inv_angstrom, 1e-6)
    return min(DEFAULT_WAVELENGTH_ANGSTROM, limit)


@dataclass(frozen=True)
class ObjectiveConfig:
    """Fit settings: background terms, weighting (``auto``/``esd``/``poisson``/``unit``), grid size,
    instrument profile (FWHM in Q, Å⁻¹, Lorentz fraction η), and the largest Q fitted (Å⁻¹; short-
    wavelength data reach 15 Å⁻¹ and more, which costs time and adds little for small cells)."""

    background_terms: int = 5  # Chebyshev terms (in Q); more for sharp peaks, see background_terms_max
    background_terms_max: int = 40  # up to this many when the peaks are narrow: see background_fwhm_per_term
    background_fwhm_per_term: float = 4.0  # one Chebyshev term per this many (narrowest) peak FWHM of the Q span
    weighting: str = "auto"
    poisson_floor: float = 1.0
    max_points: int = 1500
    points_per_fwhm: float = 8.0
    instrument_fwhm_q: float = 0.0
    instrument_eta: float = 0.0
    background_ridge: float = 1e-6
    max_q_inv_angstrom: float = 8.0  # fit Q ≤ this (Å⁻¹): ample for ≤ 20-atom cells, bounds the cost
    # peak profile: "auto" = the instrument model (TCH pseudo-Voigt with Caglioti widths, FCJ axial asymmetry,
    # sinc² size, displacement) for 2θ data or when an instrument is given, the fixed-width Fourier renderer
    # for Q-axis data (PXRDNet's patterns); "instrument" or "fourier" to choose
    profile: str = "auto"
    instrument: Instrument | None = None  # calibrated instrument (.instprm / JSON); None: refined from the pattern
    profile_method: str = "chunked"  # instrument model evaluation: "chunked" (fast, FCJ as a shift) or "exact"
    fit_range: str | None = None  # "LO:HI" on the pattern's axis, or "2theta:LO:HI" / "q:LO:HI" / "d:LO:HI"
    exclude: tuple[str, ...] = ()  # intervals left out of the fit, same syntax


@dataclass(frozen=True)
class FitData:
    """A measured pattern ready for fitting (all tensors float64, (G,)).

    ``two_theta_deg`` is set for 2θ data (then a zero shift in degrees can be refined);
    ``radiation`` gives the source lines (primary λ defines the Q axis).
    """

    q_inv_angstrom: torch.Tensor
    intensity: torch.Tensor
    weight: torch.Tensor
    weighting: str
    basis: torch.Tensor  # (G, n_bg) Chebyshev background basis
    radiation: Radiation
    two_theta_deg: torch.Tensor | None
    instrument_fwhm_q: float
    instrument_eta: float
    background_ridge: float
    instrument: Instrument | None = None  # set: render with the instrument model (see render_sticks)
    instrument_calibrated: bool = False  # True: widths come from a calibration and stay fixed
    profile_axis: str = "q"  # the model's density: per degree 2θ ("two_theta"), per Å⁻¹ ("q") or per Å of d ("d")
    exact_profile: bool = False  # instrument model: exact per-peak TCH ⊗ FCJ ⊗ sinc² (slow) or chunked (fast)
    notes: tuple[str, ...] = ()  # what was cut or ignored (reported as warnings)
    phases: Any = None  # known extra phases (pxrdsolve.solve.phases.ExtraPhases) fitted with every candidate

    @property
    def n_points(self) -> int:
        return int(self.q_inv_angstrom.numel())

    @property
    def q_range(self) -> tuple[float, float]:
        return float(self.q_inv_angstrom[0]), float(self.q_inv_angstrom[-1])

    @property
    def has_two_theta(self) -> bool:
        return self.two_theta_deg is not None

    @property
    def has_noise_model(self) -> bool:
        """True when the weights are inverse variances (esd or counts), so χ² is meaningful."""
        return self.weighting in ("esd", "poisson")

    def to(self, device: str | torch.device) -> FitData:
        from dataclasses import replace

        mv = lambda t: None if t is None else t.to(device)  # noqa: E731
        return replace(self, q_inv_angstrom=mv(self.q_inv_angstrom), intensity=mv(self.intensity),
                       weight=mv(self.weight), basis=mv(self.basis), two_theta_deg=mv(self.two_theta_deg))


def _group_mean(a: np.ndarray, k: int) -> np.ndarray:
    n = (a.size // k) * k
    head = a[:n].reshape(-1, k).mean(axis=1)
    return head if n == a.size else np.append(head, a[n:].mean())


def prepare_fit_data(
    pattern, config: ObjectiveConfig = ObjectiveConfig(), narrowest_fwhm_q: float | None = None
) -> FitData:
    """Build :class:`FitData` from a :class:`~pxrdsolve.patterns.MeasuredPattern` (points on ascending Q).

    Consecutive points are averaged in groups so that at most ``max_points`` remain and, when the
    narrowest expected peak FWHM (Å⁻¹) is given, about ``points_per_fwhm`` points span it, and never
    fewer than 3 (sharp bulk or synchrotron peaks keep more than ``max_points`` points).
    """
    q = np.asarray(pattern.q_inv_angstrom, float)
    notes: list[str] = []
    keep = q <= config.max_q_inv_angstrom
    if keep.sum() < 50:
        keep = np.ones_like(keep)
    elif not keep.all():
        notes.append(f"data above Q = {config.max_q_inv_angstrom:g} Å⁻¹ ({int((~keep).sum())} points) are not fitted "
                     "(ample for ≤ 20-atom cells; raise ObjectiveConfig.max_q_inv_angstrom to fit them)")
    keep &= select_ranges(pattern, config.fit_range, config.exclude, notes)  # --fit-range / --exclude
    if keep.sum() < 20:
        raise ValueError("fewer than 20 points left to fit after --fit-range/--exclude")
    q = q[keep]
    y = np.asarray(pattern.intensity, float)[keep]
    esd = None if pattern.esd is None else np.asarray(pattern.esd, float)[keep]
    tth = None if pattern.two_theta_deg is None else np.asarray(pattern.two_theta_deg, float)[keep]
    weighting = config.weighting
    if weighting == "auto":
        if esd is not None and np.all(np.isfinite(esd)) and np.any(esd > 0):
            weighting = "esd"
        elif y.max() > 50.0 and y.min() >= 0.0:
            weighting = "poisson"
        else:
            weighting = "unit"
    if weighting == "esd" and esd is None:
        raise ValueError("esd weighting needs esds in the pattern")
    k = max(1, math.ceil(q.size / config.max_points))
    if narrowest_fwhm_q is not None and q.size > 1:
        step = max(float(np.median(np.diff(q))), 1e-12)
        k = max(k, int(narrowest_fwhm_q / config.points_per_fwhm / step))
        # never average sharp peaks away: keep at least 3 points per FWHM even beyond max_points
        k = min(k, max(1, int(narrowest_fwhm_q / 3.0 / step)))
    k = min(k, max(1, q.size // 50))
    if weighting == "esd":
        pos = esd[esd > 0]
        var = np.maximum(esd, pos.min() if pos.size else 1.0) ** 2
        w = 1.0 / (_group_mean(var, k) / k)
    elif weighting == "poisson":
        w = k / np.maximum(_group_mean(y, k), config.poisson_floor)
    else:
        w = np.ones(_group_mean(y, k).size)
    qg, yg = _group_mean(q, k), _group_mean(y, k)
    tthg = None if tth is None else _group_mean(tth, k)
    x = 2.0 * (qg - qg[0]) / max(qg[-1] - qg[0], 1e-12) - 1.0
    n_bg = background_terms(config, float(qg[-1] - qg[0]), narrowest_fwhm_q)
    basis = np.polynomial.chebyshev.chebvander(x, max(n_bg - 1, 0))
    if n_bg == 0:
        basis = basis[:, :0]
    radiation = pattern.radiation
    if radiation is None:
        lam = pattern.wavelength_angstrom or default_wavelength(float(qg[-1]))
        radiation = Radiation(f"{lam:g}A", (float(lam),))
    instrument = fit_instrument(config, radiation, tthg is not None)
    t = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    return FitData(
        t(qg), t(yg), t(w), weighting, t(basis), radiation, None if tthg is None else t(tthg),
        float(config.instrument_fwhm_q), float(config.instrument_eta), float(config.background_ridge),
        instrument, config.instrument is not None,
        "two_theta" if tthg is not None else ("d" if getattr(pattern, "source_axis", "q") == "d" else "q"),
        config.profile_method == "exact", tuple(notes),
    )


def background_terms(config: ObjectiveConfig, q_span_inv_angstrom: float, narrowest_fwhm_q: float | None) -> int:
    """Chebyshev background terms: ``config.background_terms``, raised for narrow peaks to one term per
    20 peak FWHM of the fitted Q span (at most ``background_terms_max``), so that a long scan of sharp peaks
    can follow an amorphous hump or a sample-holder background while broad nanocrystal peaks (FWHM a tenth
    of the span and more) keep the few smooth terms that cannot imitate them."""
    n = config.background_terms
    if n <= 0 or narrowest_fwhm_q is None or narrowest_fwhm_q <= 0.0:
        return n
    per_term = config.background_fwhm_per_term * narrowest_fwhm_q
    return max(n, min(config.background_terms_max, int(q_span_inv_angstrom / per_term)))


def fit_instrument(config: ObjectiveConfig, radiation: Radiation, two_theta_data: bool) -> Instrument | None:
    """The instrument the fit renders with (None: the fixed-width Fourier renderer).

    A given instrument keeps its parameters but takes the pattern's source lines when its primary
    wavelength differs (the pattern file and ``--wavelength`` say what was measured).  Without one, the
    start is a preset for the source (synchrotron for one line below 0.9 Å, else a Bragg–Brentano lab
    diffractometer), refined from the pattern."""
    if config.profile not in ("auto", "instrument", "fourier"):
        raise ValueError(f"unknown profile {config.profile!r}")
    use = config.profile == "instrument" or (config.profile == "auto" and (two_theta_data or config.instrument))
    if not use:
        return None
    inst = config.instrument
    if inst is None:
        synch = not radiation.is_doublet and radiation.wavelength_angstrom < 0.9
        inst = Instrument.synchrotron(radiation.wavelength_angstrom) if synch else Instrument.lab_cu()
        return inst.with_(radiation=radiation)
    if abs(inst.radiation.wavelength_angstrom - radiation.wavelength_angstrom) > 1e-4:
        inst = inst.with_(radiation=radiation)
    return inst


@dataclass(frozen=True)
class LinearFit:
    """Per-candidate linear solution: scale (B,), background coefficients (B, n_bg), y_calc and
    background on the grid (B, G), χ² = Σ w (y − y_calc)² (B,), scales of extra phases (B, E)."""

    scale: torch.Tensor
    background_coeffs: torch.Tensor
    calculated: torch.Tensor
    background: torch.Tensor
    chi2: torch.Tensor
    phase_scales: torch.Tensor | None = None


def splice_fits(fit: LinearFit, part: LinearFit, rows: list[int]) -> LinearFit:
    """``fit`` with the candidates ``rows`` replaced by the rows of ``part`` (same grid and background)."""
    idx = torch.as_tensor(rows, dtype=torch.long)

    def put(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
        return None if a is None or b is None else a.index_copy(0, idx, b.to(a.dtype))

    return LinearFit(put(fit.scale, part.scale), put(fit.background_coeffs, part.background_coeffs),
                     put(fit.calculated, part.calculated), put(fit.background, part.background),
                     put(fit.chi2, part.chi2), put(fit.phase_scales, part.phase_scales))


def _ridged(m: torch.Tensor, ridge: float, first_free: int) -> torch.Tensor:
    """``m`` (…, K, K) + a tiny ridge (relative to its mean diagonal) on columns ≥ ``first_free``."""
    k = m.shape[-1]
    diag = torch.ones(k, dtype=m.dtype, device=m.device)
    diag[:first_free] = 0.0
    tr = torch.diagonal(m, dim1=-2, dim2=-1).mean(-1, keepdim=True).detach()
    return m + torch.diag_embed(ridge * tr * diag + 1e-12 * tr)


def linear_fit(data: FitData, profiles: torch.Tensor, extra: torch.Tensor | None = None) -> LinearFit:
    """Solve scale ≥ 0 and background for each profile (B, G) against the data (closed form); ``extra``
    (B, E, G): profiles of known extra phases, each with its own scale ≥ 0 (a phase whose scale comes out
    negative is dropped and the rest solved again).

    Weighted least squares by normal equations in blocks: the background block BᵀWB and Bᵀ W y are the
    same for every candidate, so the cost grows with candidates × points × background terms (not its
    square), and a long background series costs little."""
    bsz, g = profiles.shape
    sw = data.weight.sqrt()
    norm = profiles.detach().amax(dim=1, keepdim=True).clamp_min(1e-300)
    cols = [(profiles / norm).unsqueeze(-1)]
    n_extra = 0
    if extra is not None:
        n_extra = extra.shape[1]
        e_norm = extra.detach().amax(dim=2, keepdim=True).clamp_min(1e-300)  # (B, E, 1)
        cols.append((extra / e_norm).transpose(1, 2))
    m = 1 + n_extra
    basis = data.basis.to(profiles.dtype)
    k = basis.shape[1]
    yw = data.intensity * sw
    p_cols = torch.cat(cols, dim=2)  # (B, G, m)
    pw0 = p_cols * sw[None, :, None]
    bw = basis * sw[:, None]  # (G, k)
    bb = bw.T @ bw  # (k, k), shared
    by = bw.T @ yw  # (k,), shared
    mask = torch.ones(bsz, m, dtype=profiles.dtype, device=profiles.device)
    for _ in range(2 if n_extra else 1):
        pw = pw0 * mask[:, None, :]
        pp = pw.transpose(1, 2) @ pw  # (B, m, m)
        pb = torch.einsum("bgm,gk->bmk", pw, bw)  # (B, m, k)
        top = torch.cat([pp, pb], dim=2)
        bottom = torch.cat([pb.transpose(1, 2), bb.expand(bsz, k, k)], dim=2)
        mat = _ridged(torch.cat([top, bottom], dim=1), data.background_ridge, m)
        rhs = torch.cat([(pw.transpose(1, 2) @ yw.unsqueeze(-1)).squeeze(-1), by.expand(bsz, k)], dim=1)
        coef = torch.linalg.solve(mat, rhs) * torch.cat([mask, torch.ones(bsz, k, dtype=mask.dtype)], dim=1)
        if n_extra:
            neg = coef[:, 1:m] < 0
            if not bool(neg.any()):
                break
            mask[:, 1:m] = (~neg).to(mask.dtype) * mask[:, 1:m]
    if k > 0:
        cb = torch.linalg.solve(_ridged(bb, data.background_ridge, 0), by)  # background alone (shared)
        bg_only = torch.cat([torch.zeros(bsz, m, dtype=coef.dtype), cb.expand(bsz, k)], dim=1)
    else:
        bg_only = torch.zeros_like(coef)
    coef = torch.where(coef[:, :1] > 0, coef, bg_only)
    am_p = p_cols * mask[:, None, :]
    bgc = coef[:, m:]
    bg = (bgc @ basis.T) if k > 0 else torch.zeros(bsz, g, dtype=profiles.dtype)
    calc = (am_p @ coef[:, :m].unsqueeze(-1)).squeeze(-1) + bg
    chi2 = (((data.intensity - calc) * sw) ** 2).sum(-1)
    phase_scales = coef[:, 1:m] / e_norm[:, :, 0] if n_extra else None
    return LinearFit(coef[:, 0] / norm[:, 0], bgc, calc, bg, chi2, phase_scales)


def fit_metrics(data: FitData, fit: LinearFit, num_params: torch.Tensor | int) -> dict[str, np.ndarray]:
    """Per-candidate metrics (numpy arrays, B):

    * ``r_wp`` = √(Σw(y−y_c)²/Σw y²), ``r_p`` = Σ|y−y_c|/Σ|y|;
    * ``r_wp_net``: the same with the fitted background removed from y in the denominator;
    * ``r_exp_net`` = √((N−P)/Σw(y−bg)²) and ``gof`` = χ²/(N−P) (NaN without esds/counts);
    * ``r_excess`` = √(max(r_wp_net² − r_exp_net², 0)): misfit beyond counting noise (= r_wp_net
      without a noise model), the number the verdict uses;
    * ``residual_lag1``: lag-1 autocorrelation ρ = Σ r_i r_{i+1} / Σ r_i² of the weighted residuals
      r = √w (y − y_c) (≈ 0 for a fit at the noise level, → 1 for a smooth systematic misfit; the
      serial correlation of Bérar & Lelann, J. Appl. Cryst. 24, 1 (1991)).
    """
    y, w = data.intensity, data.weight
    calc, bg, chi2 = fit.calculated.detach(), fit.background.detach(), fit.chi2.detach()
    n = data.n_points
    p = torch.as_tensor(num_params, dtype=torch.float64, device=y.device).expand(calc.shape[0])
    dof = (n - p).clamp_min(1.0)
    r_wp = torch.sqrt(chi2 / (w * y**2).sum())
    net_den = (w * (y - bg) ** 2).sum(-1).clamp_min(1e-300)
    r_wp_net = torch.sqrt(chi2 / net_den)
    r_p = (y - calc).abs().sum(-1) / y.abs().sum().clamp_min(1e-300)
    if data.has_noise_model:
        gof = chi2 / dof
        r_exp_net = torch.sqrt(dof / net_den)
        r_excess = torch.sqrt((r_wp_net**2 - r_exp_net**2).clamp_min(0.0))
    else:
        gof = torch.full_like(chi2, math.nan)
        r_exp_net = torch.full_like(chi2, math.nan)
        r_excess = r_wp_net
    res = w.sqrt() * (y - calc)
    lag1 = (res[..., 1:] * res[..., :-1]).sum(-1) / (res**2).sum(-1).clamp_min(1e-300)
    out = {"r_wp": r_wp, "r_p": r_p, "r_wp_net": r_wp_net, "r_exp_net": r_exp_net, "gof": gof,
           "r_excess": r_excess, "chi2": chi2, "scale": fit.scale.detach(), "residual_lag1": lag1}
    return {k: v.detach().cpu().numpy().astype(float) for k, v in out.items()}


def peak_groups_sum(values: torch.Tensor, group: torch.Tensor, num_groups: int) -> torch.Tensor:
    """Sum per-reflection values into their peak groups (differentiable)."""
    return scatter_sum(values, group, num_groups)
