"""Model selection between candidate structures of different complexity.

A low-symmetry supercell with dozens of free coordinates always fits a pattern a little better than the
right high-symmetry structure: it fits the noise.  Rietveld practice prefers the simpler model unless the
complex one is *significantly* better (Hamilton's R-ratio test).  We use the Bayesian information
criterion with the noise variance scaled by the best fit's reduced χ²:

    score_b = χ²_b + s² · P_b · ln N,    s² = min_b χ²_b / (N − P_b),

with N the fitted points and P_b the parameters of candidate b's *structure model* (cell by crystal
system, free Wyckoff coordinates, one B per orbit, size, zero shift, March–Dollase texture where kept,
scale and background; see
:func:`model_parameters`) whether or not every one was refined.  For inverse-variance weights s² is the
best GOF (1 for a perfect model); for unit weights it estimates the noise variance per point.
Candidates are ranked by ``score`` and a higher space group is accepted when it lowers it.

Serially correlated residuals.  On measured data the best fit's misfit is mostly smooth (peak shapes,
background, a slightly wrong model), not point-to-point noise, so neighbouring residuals are
correlated and χ² differences overstate the evidence by the correlation length.  The final ranking
(:func:`correlation_factor`) therefore counts N/κ effective points, each worth κ points of χ²,

    score_b = χ²_b + κ · s² · P_b · ln(N/κ),    κ = (1 + ρ)/(1 − ρ) ∈ [1, κ_max],

with ρ the lag-1 autocorrelation of the best fit's weighted residuals (an AR(1) correlation length;
Bérar & Lelann, J. Appl. Cryst. 24, 1 (1991), scale Rietveld esds the same way).  A fit at the noise
level has ρ ≈ 0 and κ = 1: the plain criterion.  ``κ_max`` was set on MP-20 validation rows.
"""

from __future__ import annotations

import math

import numpy as np

from pxrdsolve.structure.template import SymmetricTemplate

_CELL_PARAMS = {"cubic": 1, "tetragonal": 2, "trigonal": 2, "hexagonal": 2, "orthorhombic": 3,
                "monoclinic": 4, "triclinic": 6}


def model_parameters(t: SymmetricTemplate, base: int, refine_size: bool, refine_zero: bool,
                     positions: bool = True, b_iso: bool = True, texture: bool = False) -> int:
    """Parameters of the structure model of ``t`` plus ``base`` (scale, background), size/zero and the
    March–Dollase ratio (``texture``; its direction is a choice among a few, not a continuous parameter)."""
    n = base + _CELL_PARAMS[t.crystal_system] + int(refine_size) + int(refine_zero) + int(texture)
    if positions:
        n += t.num_free_coordinates
    if b_iso:
        n += len(t.orbits)
    return n


def noise_scale(chi2: np.ndarray, n_params: np.ndarray, n_points: int) -> float:
    """s² = min χ²/(N − P) over candidates (> 0)."""
    dof = np.maximum(n_points - np.asarray(n_params, float), 1.0)
    ratio = np.asarray(chi2, float) / dof
    ratio = ratio[np.isfinite(ratio)]
    return float(max(ratio.min() if ratio.size else 1.0, 1e-300))


def correlation_factor(chi2: np.ndarray, lag1: np.ndarray, max_factor: float) -> float:
    """κ = (1 + ρ)/(1 − ρ) of the best (lowest χ²) candidate's lag-1 residual autocorrelation ρ,
    clipped to [1, ``max_factor``] (1 when there is no finite fit)."""
    chi2, lag1 = np.asarray(chi2, float), np.asarray(lag1, float)
    ok = np.isfinite(chi2) & np.isfinite(lag1)
    if not ok.any() or max_factor <= 1.0:
        return 1.0
    rho = float(np.clip(lag1[ok][np.argmin(chi2[ok])], 0.0, 1.0 - 1e-9))
    return float(min(max((1.0 + rho) / (1.0 - rho), 1.0), max_factor))


def penalised_chi2(chi2: np.ndarray, n_params: np.ndarray, n_points: int, scale: float | None = None,
                   correlation: float = 1.0) -> np.ndarray:
    """score = χ² + κ · s² · P · ln(N/κ) per candidate, κ = ``correlation`` (see module docstring)."""
    s2 = noise_scale(chi2, n_params, n_points) if scale is None else scale
    kappa = max(float(correlation), 1.0)
    return np.asarray(chi2, float) + kappa * s2 * np.asarray(n_params, float) * math.log(max(n_points / kappa, 2.0))


def final_scores(chi2: np.ndarray, lag1: np.ndarray, n_params: np.ndarray, n_points: int,
                 max_factor: float) -> dict[str, np.ndarray]:
    """The final ranking's criterion of every candidate: ``score`` (B,) with the κ (``correlation_factor``,
    ≤ ``max_factor``) and s² (``noise_scale``) it used, repeated per candidate."""
    kappa = correlation_factor(chi2, lag1, max_factor)
    s2 = noise_scale(chi2, n_params, n_points)
    n = len(np.asarray(chi2))
    return {"score": penalised_chi2(chi2, n_params, n_points, scale=s2, correlation=kappa),
            "correlation_factor": np.full(n, kappa), "noise_scale": np.full(n, s2)}
