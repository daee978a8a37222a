"""Instrument parameters from a standard's pattern (the core of ``pxrdsolve calibrate``).

Model of the measured counts on the file's points (2θ):

    y(2θ) = scale · Σ_lines Σ_hkl w_line·|F|²·e^{−2B s²}·LP·Pol · Φ(2θ − 2θ_hkl) + Σ_k c_k T_k(x)

with the standard's certified structure (:mod:`pxrdsolve.instrument.standards`), the simulator's
|F|² and LP, GSAS-II's polarisation, the angle-dependent profile Φ of
:func:`~pxrdsolve.instrument.profile.render_profile` (density per degree 2θ, τ = ∞) and a Chebyshev
background in x ∈ [−1, 1] over the 2θ range.  Scale and background are linear and solved exactly
at every step (variable projection); Zero, displacement, U, V, W, X, Y, SH/L and the overall B are
refined by Levenberg–Marquardt with a finite-difference Jacobian, first Zero, displacement, W, B,
then all, weighted by 1/σ² (the file's esd, else Poisson 1/max(y, 1)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from pxrdsolve.errors import InputError
from pxrdsolve.instrument.model import Instrument, polarisation_ratio
from pxrdsolve.instrument.profile import ProfileTensors, render_profile
from pxrdsolve.instrument.standards import STANDARDS, canonical_standard, standard_record

# refined parameter: (scale used by the optimiser, lower bound)
PARAMETERS: dict[str, tuple[float, float]] = {
    "zero_deg": (0.01, -math.inf), "displacement_um": (20.0, -math.inf), "u": (2.0, -math.inf),
    "v": (2.0, -math.inf), "w": (1.0, 0.0), "x": (0.5, 0.0), "y": (0.5, 0.0), "sh_l": (0.003, 0.0),
    "b_iso": (0.1, 0.0),
}
STAGES = (("zero_deg", "displacement_um", "w", "b_iso"), tuple(PARAMETERS))


@dataclass(frozen=True)
class CalibrationResult:
    """Refined instrument and the fit: R factors, linear terms, esds (same units as the parameters)."""

    instrument: Instrument
    standard: str
    scale: float
    background: tuple[float, ...]
    b_iso: float
    rwp: float
    chi2_reduced: float
    n_points: int
    n_reflections: int
    iterations: int
    esd: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"standard": self.standard, "instrument": self.instrument.to_json(), "scale": self.scale,
                "background": list(self.background), "b_iso_angstrom2": self.b_iso, "rwp": self.rwp,
                "chi2_reduced": self.chi2_reduced, "n_points": self.n_points,
                "n_reflections": self.n_reflections, "iterations": self.iterations, "esd": dict(self.esd)}


class _Model:
    """The standard's pattern as a function of the nonlinear parameters (numpy in/out)."""

    def __init__(self, q, tt, radiation, standard: str, start: Instrument, n_background: int):
        from pxrdsolve.crystal import batch_from_records
        from pxrdsolve.diffraction.peaks import compute_peaks

        self.q = torch.as_tensor(q, dtype=torch.float64)
        self.radiation = radiation
        self.start = start
        lam1 = radiation.wavelength_angstrom
        q_max = float(self.q.max()) * max(radiation.wavelengths_angstrom) / lam1 * 1.02 + 0.05
        table = compute_peaks(batch_from_records([standard_record(standard)]), wavelength_angstrom=min(
            radiation.wavelengths_angstrom), q_max_inv_angstrom=q_max)
        self.q_hkl, self.fsq = table.q_inv_angstrom, table.f_squared
        self.n_reflections = int(self.q_hkl.numel())
        x = 2.0 * (tt - tt.min()) / max(float(tt.max() - tt.min()), 1e-12) - 1.0
        self.basis = np.polynomial.chebyshev.chebvander(x, max(n_background - 1, 0))

    def profile(self, p: dict[str, float]) -> np.ndarray:
        from pxrdsolve.diffraction.peaks import source_line_sticks

        s2 = (self.q_hkl / (4.0 * math.pi)) ** 2
        fsq = self.fsq * torch.exp(-2.0 * p["b_iso"] * s2)
        qs, inten, idx = source_line_sticks(self.q_hkl, fsq, torch.zeros_like(self.q_hkl, dtype=torch.long),
                                            self.radiation)
        lam1 = self.radiation.wavelength_angstrom
        inten = inten * polarisation_ratio(qs, lam1, self.start.polarisation)
        inst = replace(self.start, **{k: v for k, v in p.items() if k != "b_iso"})
        prm = ProfileTensors.from_instrument(inst, 1)
        with torch.no_grad():
            y = render_profile(self.q, qs, inten, idx, 1, math.inf, prm, lam1, axis="two_theta")
        return y[0].numpy()

    def design(self, p: dict[str, float]) -> np.ndarray:
        return np.column_stack([self.profile(p), self.basis])


def _solve_linear(a: np.ndarray, y: np.ndarray, sw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    coef, *_ = np.linalg.lstsq(a * sw[:, None], y * sw, rcond=None)
    return coef, (y - a @ coef) * sw


def _clip(name: str, value: float) -> float:
    return max(value, PARAMETERS[name][1])


def calibrate(path, standard: str, wavelength: str | float | None = None, start: Instrument | None = None,
              n_background: int = 6, two_theta_range: tuple[float, float] | None = None,
              max_iterations: int = 40) -> CalibrationResult:
    """Refine the instrument from the pattern file ``path`` of ``standard`` (LaB6, Si, CeO2, Al2O3).

    ``wavelength`` overrides the file's (a name such as ``CuKa12`` or Å); ``start`` gives the
    starting instrument (default: :meth:`Instrument.lab_cu` profile terms with the file's lines);
    ``two_theta_range`` limits the fit (degrees).  Raises :class:`InputError` for unusable input.
    """
    from pxrdsolve.patterns import read_pattern

    name = canonical_standard(standard)
    pat = read_pattern(path, wavelength=wavelength)
    if pat.wavelength_angstrom is None or pat.radiation is None:
        raise InputError(f"{path}: no wavelength (give --wavelength)")
    rad = pat.radiation
    tt = np.rad2deg(2.0 * np.arcsin(pat.q_inv_angstrom * rad.wavelength_angstrom / (4.0 * math.pi)))
    keep = np.isfinite(tt) & np.isfinite(pat.intensity)
    if two_theta_range is not None:
        keep &= (tt >= two_theta_range[0]) & (tt <= two_theta_range[1])
    if keep.sum() < 50:
        raise InputError(f"{path}: fewer than 50 usable points in the fit range")
    q, tt, y = pat.q_inv_angstrom[keep], tt[keep], np.asarray(pat.intensity, dtype=float)[keep]
    if pat.esd is not None:
        sig = np.asarray(pat.esd, dtype=float)[keep]
        sig = np.where(sig > 0, sig, np.sqrt(np.maximum(y, 1.0)))
    else:
        sig = np.sqrt(np.maximum(y, 1.0 if y.max() > 100 else 1e-3 * y.max()))
    sw = 1.0 / sig
    inst0 = start if start is not None else replace(Instrument.lab_cu(), radiation=rad)
    model = _Model(q, tt, rad, name, inst0, n_background)
    if model.n_reflections == 0:
        raise InputError(f"{path}: no reflections of {name} in the range")
    p = {k: float(getattr(inst0, k)) for k in PARAMETERS if k != "b_iso"} | {"b_iso": 0.3}
    iterations, cov_names, cov = 0, [], None
    for stage in STAGES:
        p, it, cov = _levenberg_marquardt(model, p, list(stage), y, sw, max_iterations)
        iterations += it
        cov_names = list(stage)
    coef, res = _solve_linear(model.design(p), y, sw)
    chi2 = float(res @ res)
    dof = max(y.size - len(PARAMETERS) - coef.size, 1)
    rwp = math.sqrt(chi2 / float(((y * sw) ** 2).sum()))
    esd = {}
    if cov is not None:
        esd = {k: float(math.sqrt(max(cov[i, i], 0.0) * chi2 / dof)) for i, k in enumerate(cov_names)}
    inst = replace(inst0, **{k: v for k, v in p.items() if k != "b_iso"})
    return CalibrationResult(inst, name, float(coef[0]), tuple(float(c) for c in coef[1:]), p["b_iso"], rwp,
                             chi2 / dof, int(y.size), model.n_reflections, iterations, esd)


def _levenberg_marquardt(model: _Model, p: dict, names: list[str], y, sw, max_iterations: int):
    scales = np.array([PARAMETERS[k][0] for k in names])

    def residual(vec: np.ndarray) -> tuple[np.ndarray, dict]:
        trial = dict(p) | {k: _clip(k, float(v)) for k, v in zip(names, vec)}
        return _solve_linear(model.design(trial), y, sw)[1], trial

    x = np.array([p[k] for k in names])
    r, cur = residual(x)
    chi = float(r @ r)
    lam = 1e-3
    jac = None
    it = 0
    while it < max_iterations:
        it += 1
        jac = np.empty((r.size, len(names)))
        for i in range(len(names)):
            step = np.zeros_like(x)
            step[i] = 1e-3 * scales[i]
            jac[:, i] = (residual(x + step)[0] - residual(x - step)[0]) / (2.0 * step[i])
        js = jac * scales
        jtj, jtr = js.T @ js, js.T @ r
        improved = False
        for _ in range(12):
            a = jtj + lam * np.diag(np.diag(jtj) + 1e-12)
            try:
                delta = -np.linalg.solve(a, jtr) * scales
            except np.linalg.LinAlgError:
                lam *= 10.0
                continue
            x_new = np.array([_clip(k, v) for k, v in zip(names, x + delta)])
            r_new, trial = residual(x_new)
            chi_new = float(r_new @ r_new)
            if chi_new < chi:
                improved = True
                rel = (chi - chi_new) / chi
                x, r, chi, cur = x_new, r_new, chi_new, trial
                lam = max(lam / 3.0, 1e-7)
                break
            lam *= 4.0
        if not improved or rel < 1e-9:
            break
    cov = None
    if jac is not None:
        try:
            cov = np.linalg.inv(jac.T @ jac)
        except np.linalg.LinAlgError:
            cov = None
    return cur, it, cov


__all__ = ["PARAMETERS", "STANDARDS", "CalibrationResult", "calibrate"]
