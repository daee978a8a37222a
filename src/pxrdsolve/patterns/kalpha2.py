"""Optional Kα2 stripping (Rachinger 1948) for 2θ data measured with a Kα1+Kα2 doublet.

**Decision: by default the raw data are kept and the doublet is modelled in the simulator**
(:class:`~pxrdsolve.diffraction.radiation.Radiation` carries both lines and their weights, and the
simulator broadens with them).  Reasons: Rachinger's recursion subtracts a scaled, shifted copy of
the already-corrected pattern, so it propagates noise and any error in the Kα2/Kα1 ratio to higher
angles, and it assumes the Kα2 peak has the Kα1 shape - wrong for the broad, overlapping peaks of
nanocrystals where the doublet splitting is far below the peak width and stripping buys nothing.
:func:`rachinger_strip` is provided as an explicit option (``prepare_for_model(strip_kalpha2=True)``)
for sharp lab data when a single-line pattern is wanted.
"""

from __future__ import annotations

import numpy as np


def kalpha2_shift_deg(two_theta_deg: np.ndarray, lambda1_angstrom: float, lambda2_angstrom: float) -> np.ndarray:
    """2θ(Kα2) − 2θ(Kα1) in degrees for reflections seen at ``two_theta_deg`` with Kα1.

    NaN where Kα2 cannot diffract (sin θ₂ > 1).
    """
    theta = np.deg2rad(np.asarray(two_theta_deg, dtype=float) / 2.0)
    s2 = np.sin(theta) * (lambda2_angstrom / lambda1_angstrom)
    with np.errstate(invalid="ignore"):
        return np.rad2deg(2.0 * np.arcsin(s2)) - np.asarray(two_theta_deg, dtype=float)


def rachinger_strip(
    two_theta_deg: np.ndarray,
    intensity: np.ndarray,
    lambda1_angstrom: float,
    lambda2_angstrom: float,
    ratio: float = 0.5,
) -> np.ndarray:
    """Kα1-only intensity: I₁(2θ) = I(2θ) − ratio · I₁(2θ − Δ(2θ)) (Rachinger), recursively upward.

    ``two_theta_deg`` ascending (degrees), ``ratio`` = I(Kα2)/I(Kα1).  The shifted value is linearly
    interpolated between already corrected points; where the shift is below one step the implicit
    equation is solved for the current point.  Returns an array like ``intensity``.
    """
    x = np.asarray(two_theta_deg, dtype=float)
    y = np.asarray(intensity, dtype=float)
    shift = np.nan_to_num(kalpha2_shift_deg(x, lambda1_angstrom, lambda2_angstrom), nan=0.0)
    source = x - shift
    j = np.searchsorted(x, source, side="right") - 1  # x[j] <= source < x[j+1]
    out = y.copy()
    for i in range(x.size):
        k = j[i]
        if k < 0 or shift[i] <= 0:
            continue
        if k >= i:  # shift below one step: source between x[i-1] and x[i]
            k = i - 1
            if k < 0:
                continue
        w = (source[i] - x[k]) / (x[k + 1] - x[k])
        if k + 1 < i:
            out[i] = y[i] - ratio * ((1.0 - w) * out[k] + w * out[k + 1])
        else:  # depends on out[i] itself: solve out[i] = y[i] - r((1-w) out[k] + w out[i])
            out[i] = (y[i] - ratio * (1.0 - w) * out[k]) / (1.0 + ratio * w)
    return out
