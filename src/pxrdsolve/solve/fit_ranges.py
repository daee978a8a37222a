"""``--fit-range`` and ``--exclude``: which measured points a fit uses, with a note of what was left out."""

from __future__ import annotations

import math

import numpy as np


def _interval_q(spec: str, pattern) -> tuple[float, float]:
    """(Q_lo, Q_hi) Å⁻¹ of ``"LO:HI"`` (the pattern's axis: 2θ degrees for 2θ data, else Q) or
    ``"2theta:LO:HI"``, ``"q:LO:HI"``, ``"d:LO:HI"`` (d in Å)."""
    parts = [p.strip() for p in str(spec).split(":")]
    axis = "2theta" if pattern.two_theta_deg is not None else "q"
    if len(parts) == 3:
        axis = parts[0].lower().replace("2θ", "2theta").replace("tth", "2theta")
        parts = parts[1:]
    try:
        lo, hi = float(parts[0]), float(parts[1])
    except (ValueError, IndexError):
        raise ValueError(f"bad interval {spec!r}: give LO:HI or 2theta:LO:HI, q:LO:HI, d:LO:HI") from None
    if not lo < hi:
        raise ValueError(f"bad interval {spec!r}: LO must be below HI")
    if axis == "q":
        return lo, hi
    if axis == "d":
        return 2 * math.pi / hi, 2 * math.pi / max(lo, 1e-9)
    if axis != "2theta":
        raise ValueError(f"bad interval {spec!r}: axis must be 2theta, q or d")
    lam = pattern.wavelength_angstrom
    if lam is None:
        raise ValueError(f"interval {spec!r} in 2θ needs the pattern's wavelength")
    to_q = lambda t: 4 * math.pi / lam * math.sin(math.radians(min(t, 179.9) / 2))  # noqa: E731
    return to_q(lo), to_q(hi)


def select_ranges(pattern, fit_range: str | None, exclude: tuple[str, ...], notes: list[str]) -> np.ndarray:
    """Mask of the points inside ``fit_range`` and outside every ``exclude`` interval; notes what was left out."""
    q = np.asarray(pattern.q_inv_angstrom, float)
    keep = np.ones(q.size, bool)
    if fit_range:
        lo, hi = _interval_q(fit_range, pattern)
        keep &= (q >= lo) & (q <= hi)
        notes.append(f"fit range {fit_range}: {int((~keep).sum())} of {q.size} points left out")
    for spec in exclude:
        lo, hi = _interval_q(spec, pattern)
        out = (q >= lo) & (q <= hi)
        keep &= ~out
        notes.append(f"excluded {spec}: {int(out.sum())} points")
    return keep
