"""Background estimation in the Q domain (Å⁻¹): SNIP and iterative polynomial.

Both are pure functions of arrays: ``q_inv_angstrom`` (ascending, not necessarily uniform) and
``intensity`` → background on the same points.

* :func:`snip_background` - Statistics-sensitive Non-linear Iterative Peak clipping (Ryan et al.
  1988; Morháč 1997) on a uniform resampling in Q, with the LLS (log-log-sqrt) transform.  Its
  half-window ``window_q`` should be tied to the expected peak width: :func:`snip_window_for_fwhm`
  gives 2 × FWHM, which clips a peak's full base (a sinc² size peak's main lobe is 2.26 FWHM wide,
  a pseudo-Voigt's base ~3-4 FWHM) while following background curvature on larger scales.
* :func:`polynomial_background` - iterative polynomial fit (I-ModPoly, Zhao et al. 2007): fit a
  Chebyshev polynomial in Q, clip the data to fit + σ, repeat until σ settles.  Good for smooth,
  slowly varying backgrounds; no window needed.
"""

from __future__ import annotations

import numpy as np
from numpy.polynomial import chebyshev

MAX_WINDOW_POINTS = 150


def snip_window_for_fwhm(fwhm_q: float) -> float:
    """SNIP half-window (Å⁻¹) for peaks of this FWHM (Å⁻¹): 2 × FWHM."""
    return 2.0 * float(fwhm_q)


def _lls(v: np.ndarray) -> np.ndarray:
    return np.log(np.log(np.sqrt(v + 1.0) + 1.0) + 1.0)


def _lls_inverse(t: np.ndarray) -> np.ndarray:
    return (np.exp(np.exp(t) - 1.0) - 1.0) ** 2 - 1.0


def _snip_uniform(values: np.ndarray, half_window: int) -> np.ndarray:
    m = max(int(half_window), 1)
    t = np.pad(values, m, mode="edge")  # "reflect" would turn a rising edge into a clippable peak
    for p in range(1, m + 1):
        mid = 0.5 * (t[: -2 * p] + t[2 * p :])
        t[p:-p] = np.minimum(t[p:-p], mid)
    return t[m:-m]


def snip_background(
    q_inv_angstrom: np.ndarray,
    intensity: np.ndarray,
    *,
    window_q: float,
    smooth_q: float | None = None,
    lls: bool = True,
) -> np.ndarray:
    """SNIP background (same unit as ``intensity``) on the points ``q_inv_angstrom`` (Å⁻¹).

    ``window_q`` is the clipping half-window in Å⁻¹; ``smooth_q`` (default ``window_q``/8) is the
    width of a boxcar applied before clipping so that the background follows the noise mean, not
    its minima.  Negative intensities (background-subtracted data) are handled by an offset.
    """
    q = np.asarray(q_inv_angstrom, dtype=float)
    y = np.asarray(intensity, dtype=float)
    span = float(q[-1] - q[0])
    if q.size < 5 or span <= 0 or window_q <= 0:
        return np.full_like(y, float(np.min(y)))
    step = max(float(np.median(np.diff(q))), window_q / MAX_WINDOW_POINTS, span / 200_000)
    n = int(np.floor(span / step)) + 1
    qu = q[0] + step * np.arange(n)
    yu = np.interp(qu, q, y)
    offset = float(min(np.min(yu), 0.0))
    v = yu - offset
    width = int(round((window_q / 8.0 if smooth_q is None else smooth_q) / step))
    if width >= 3:
        kernel = np.ones(width) / width
        v = np.convolve(np.pad(v, width, mode="reflect"), kernel, mode="same")[width:-width]
    half = min(int(round(window_q / step)), max((n - 1) // 2, 1))
    if lls:
        bu = _lls_inverse(_snip_uniform(_lls(np.maximum(v, 0.0)), half))
    else:
        bu = _snip_uniform(v, half)
    return np.interp(q, qu, bu) + offset


def polynomial_background(
    q_inv_angstrom: np.ndarray,
    intensity: np.ndarray,
    *,
    degree: int = 6,
    max_iterations: int = 200,
    tolerance: float = 1e-3,
) -> np.ndarray:
    """Iterative polynomial background of ``degree`` in Q (Å⁻¹), same unit as ``intensity``.

    Improved modified polyfit (Zhao et al. 2007): each pass fits a Chebyshev polynomial and clips
    the working data to fit + σ (σ = std of the residual), which avoids the downward drift of plain
    min(data, fit) clipping.  Stops when σ changes by less than ``tolerance`` (relative).
    """
    q = np.asarray(q_inv_angstrom, dtype=float)
    y = np.asarray(intensity, dtype=float)
    x = (2.0 * (q - q[0]) / max(q[-1] - q[0], 1e-12)) - 1.0
    work = y.copy()
    fit = work
    previous = np.inf
    for _ in range(max_iterations):
        fit = chebyshev.chebval(x, chebyshev.chebfit(x, work, degree))
        dev = float(np.std(work - fit))
        if abs(previous - dev) <= tolerance * max(dev, 1e-300):
            break
        work = np.minimum(work, fit + dev)
        previous = dev
    return fit
