"""Preprocessing of a measured pattern into the model's view (:class:`ModelPattern`).

Each step is a pure function of arrays and is optional; :func:`prepare_for_model` runs them in this
order and records each one it applied as a :class:`ProcessingStep`:

1. zero-shift correction (2θ data only): 2θ_true = 2θ_measured − ``zero_shift_deg``, before Q;
2. Kα2 stripping (Rachinger) - off by default: the raw data are kept and the doublet is modelled in
   the simulator (reasons in :mod:`pxrdsolve.patterns.kalpha2`);
3. size estimate from peak widths (:func:`~pxrdsolve.patterns.size.estimate_size`), optional; its
   FWHM also sets the background window;
4. background in Q (SNIP with half-window 2 × FWHM, or iterative polynomial) and its subtraction;
5. resampling onto the Q grid (default PXRDNet's 512-point input grid) with a mask of the measured
   range (:mod:`pxrdsolve.patterns.resample`);
6. negative values clipped to 0 and normalisation (max → 1 over the measured points).
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import trapezoid

from pxrdsolve.diffraction.grids import pxrdnet_input_q, q_from_two_theta
from pxrdsolve.errors import InputError
from pxrdsolve.patterns.background import polynomial_background, snip_background, snip_window_for_fwhm
from pxrdsolve.patterns.kalpha2 import rachinger_strip
from pxrdsolve.patterns.peaks import typical_fwhm_q
from pxrdsolve.patterns.resample import resample_to_grid
from pxrdsolve.patterns.size import estimate_size
from pxrdsolve.patterns.types import MeasuredPattern, ModelPattern, ProcessingStep, SizeEstimate

BACKGROUND_METHODS = ("snip", "polynomial")


def apply_zero_shift(two_theta_deg: np.ndarray, zero_shift_deg: float) -> np.ndarray:
    """Corrected 2θ (degrees): 2θ − ``zero_shift_deg``; InputError if it leaves (0, 180)."""
    corrected = np.asarray(two_theta_deg, dtype=float) - float(zero_shift_deg)
    if corrected.size and (corrected.min() <= 0.0 or corrected.max() >= 180.0):
        raise InputError(f"zero shift {zero_shift_deg:g}° moves 2θ outside (0, 180) degrees")
    return corrected


def normalize_max(intensity: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """(intensity / max, max) with the maximum taken over ``mask``; unchanged when max ≤ 0."""
    y = np.asarray(intensity, dtype=float)
    sel = y if mask is None else y[np.asarray(mask, dtype=bool)]
    peak = float(sel.max()) if sel.size else 0.0
    if peak <= 0.0:
        return y.copy(), 1.0
    return y / peak, peak


def estimate_background(
    q_inv_angstrom: np.ndarray,
    intensity: np.ndarray,
    *,
    method: str = "snip",
    window_q: float | None = None,
    polynomial_degree: int = 6,
) -> tuple[np.ndarray, ProcessingStep]:
    """(background on the data points, step record).  ``window_q``: SNIP half-window in Å⁻¹
    (default 2 × the typical peak FWHM)."""
    if method == "snip":
        if window_q is None:
            window_q = snip_window_for_fwhm(typical_fwhm_q(q_inv_angstrom, intensity))
        bg = snip_background(q_inv_angstrom, intensity, window_q=window_q)
        step = ProcessingStep(
            "background",
            f"SNIP in Q, half-window {window_q:.4g} Å⁻¹",
            {"method": "snip", "window_q": float(window_q)},
        )
    elif method == "polynomial":
        bg = polynomial_background(q_inv_angstrom, intensity, degree=polynomial_degree)
        step = ProcessingStep(
            "background",
            f"iterative polynomial in Q, degree {polynomial_degree}",
            {"method": "polynomial", "degree": polynomial_degree},
        )
    else:
        raise InputError(f"unknown background method {method!r}: use {', '.join(BACKGROUND_METHODS)}")
    return bg, step


def background_fraction(q_inv_angstrom: np.ndarray, intensity: np.ndarray, background: np.ndarray) -> float:
    """∫background dQ / ∫intensity dQ over the measured points (0 … 1, clipped)."""
    total = float(trapezoid(np.asarray(intensity, float), q_inv_angstrom))
    if total <= 0:
        return float("nan")
    return float(np.clip(trapezoid(np.asarray(background, float), q_inv_angstrom) / total, 0.0, 1.0))


def prepare_for_model(
    pattern: MeasuredPattern,
    *,
    q_grid: np.ndarray | None = None,
    subtract_background: bool = True,
    background_method: str = "snip",
    background_window_q: float | None = None,
    zero_shift_deg: float = 0.0,
    strip_kalpha2: bool = False,
    estimate_size_too: bool = True,
    instrument_fwhm_q: float = 0.0,
    resample: str = "max",
    normalize: bool = True,
) -> ModelPattern:
    """Run the preprocessing steps (module docstring) and return the pattern on ``q_grid`` (Å⁻¹).

    ``q_grid`` defaults to :func:`~pxrdsolve.diffraction.grids.pxrdnet_input_q`.  A failed size
    estimate is not an error here: ``size`` is None and a warning says why.
    """
    steps: list[ProcessingStep] = []
    warnings: list[str] = []
    q = pattern.q_inv_angstrom
    y = pattern.intensity.astype(float)
    two_theta = pattern.two_theta_deg
    if zero_shift_deg:
        if two_theta is None or pattern.wavelength_angstrom is None:
            raise InputError("a zero-shift correction needs 2θ data")
        two_theta = apply_zero_shift(two_theta, zero_shift_deg)
        q = np.asarray(q_from_two_theta(two_theta, pattern.wavelength_angstrom), dtype=float)
        steps.append(ProcessingStep("zero_shift", f"2θ − {zero_shift_deg:g}°", {"zero_shift_deg": zero_shift_deg}))
    if strip_kalpha2:
        rad = pattern.radiation
        if two_theta is None or rad is None or not rad.is_doublet:
            raise InputError("Kα2 stripping needs 2θ data measured with a Kα1+Kα2 doublet (e.g. CuKa12)")
        y = rachinger_strip(
            two_theta,
            y,
            rad.wavelengths_angstrom[0],
            rad.wavelengths_angstrom[1],
            rad.weights[1] / rad.weights[0],
        )
        steps.append(
            ProcessingStep(
                "kalpha2_strip",
                f"Rachinger, ratio {rad.weights[1] / rad.weights[0]:g}",
                {"ratio": rad.weights[1] / rad.weights[0]},
            )
        )
    shifted = MeasuredPattern(
        q,
        y,
        pattern.esd,
        pattern.wavelength_angstrom,
        None if strip_kalpha2 else pattern.radiation,
        pattern.source_axis,
        two_theta,
        pattern.path,
        pattern.metadata,
        pattern.warnings,
    )
    size: SizeEstimate | None = None
    if estimate_size_too:
        try:
            size = estimate_size(shifted, instrument_fwhm_q=instrument_fwhm_q)
        except InputError as exc:
            warnings.append(f"size not estimated: {str(exc).removeprefix(pattern.path + ': ')}")
    if subtract_background:
        window = background_window_q
        if window is None and size is not None:
            window = snip_window_for_fwhm(float(np.median([p.fwhm_q for p in size.peaks])))
        background, step = estimate_background(q, y, method=background_method, window_q=window)
        frac = background_fraction(q, y, background)
        steps.append(ProcessingStep(step.name, step.detail, {**step.params, "background_fraction": frac}))
    else:
        background = np.zeros_like(y)
    grid = pxrdnet_input_q() if q_grid is None else np.asarray(q_grid, dtype=float)
    net_grid, mask = resample_to_grid(q, y - background, grid, method=resample)
    bg_grid, _ = resample_to_grid(q, background, grid, method="mean")
    bg_grid = np.where(mask, bg_grid, 0.0)
    steps.append(
        ProcessingStep(
            "resample",
            f"{resample} onto {grid.size} Q points, {int(mask.sum())} measured",
            {"method": resample, "n_grid": int(grid.size), "n_measured": int(mask.sum())},
        )
    )
    if not mask.any():
        warnings.append("the measured Q range does not cover any point of the model grid")
    n_neg = int(np.count_nonzero(net_grid[mask] < 0))
    net_grid = np.maximum(net_grid, 0.0)
    if n_neg:
        steps.append(ProcessingStep("clip_negative", f"{n_neg} negative grid values set to 0", {"n": n_neg}))
    if normalize:
        net_grid, scale = normalize_max(net_grid, mask)
        bg_grid = bg_grid / scale
        steps.append(ProcessingStep("normalize", f"max → 1 (divided by {scale:.4g})", {"scale": scale}))
    return ModelPattern(
        q_inv_angstrom=grid,
        intensity=net_grid,
        mask=mask,
        background=bg_grid,
        steps=tuple(steps),
        size=size,
        warnings=tuple(warnings),
    )
