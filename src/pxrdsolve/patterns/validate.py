"""Checks shared by all readers and the conversion of a file's axis to Q (Å⁻¹).

Decisions (documented here, enforced by :func:`finalize_pattern`):

* Axis: a format that defines the axis (pdCIF tag, XRDML, GSAS) wins; ``axis=`` contradicting it is
  an InputError.  A hint read from free text (a column header such as ``2theta`` or ``Q_invA``)
  yields to ``axis=`` with a warning.  With neither, x up to more than 12 is taken as 2θ in degrees
  (with a warning); otherwise the axis is ambiguous and ``axis=`` is required.
* Wavelength: ``wavelength=`` (Å or a name, see :func:`parse_radiation`) overrides the file's value
  (warning if they differ).  2θ data without any wavelength are an InputError: Cu is never assumed.
* Negative intensities: kept, with a warning, when they are consistent with noise of
  background-subtracted ("net") data, i.e. no lower than max(6σ, 1 % of the maximum), where σ is
  the median esd or the robust noise of the second differences; deeper negatives are an InputError.
* A strictly descending axis is reversed silently; a shuffled axis is sorted with a warning;
  duplicated axis values are an InputError.  At least 50 points are required.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pxrdsolve.diffraction.grids import q_from_two_theta
from pxrdsolve.diffraction.radiation import Radiation, parse_radiation
from pxrdsolve.errors import InputError
from pxrdsolve.patterns.readers.common import RawColumns
from pxrdsolve.patterns.types import MeasuredPattern

MIN_POINTS = 50
MAX_ABS_INTENSITY = 1e20
TWO_THETA_GUESS_MIN_DEG = 12.0
_AXIS_ALIASES = {
    "2theta": "2theta", "2th": "2theta", "tth": "2theta", "2θ": "2theta", "twotheta": "2theta",
    "2-theta": "2theta", "q": "q", "d": "d", "dspacing": "d", "d-spacing": "d",
}  # fmt: skip
_AXIS_WORDS = {"2theta": "2θ", "q": "Q", "d": "d"}


def normalize_axis(axis: str | None) -> str | None:
    """``2theta``/``q``/``d`` from user spellings (``2θ``, ``tth``, ``Q`` …); InputError otherwise."""
    if axis is None:
        return None
    key = str(axis).strip().lower()
    if key not in _AXIS_ALIASES:
        raise InputError(f"unknown axis {axis!r}: use 2theta, q or d")
    return _AXIS_ALIASES[key]


def resolve_radiation(wavelength: float | str | Radiation | None) -> Radiation | None:
    """A :class:`Radiation` from a number in Å, a name (``CuKa1``, ``MoKa``, ``CuKa12``) or None."""
    if wavelength is None or isinstance(wavelength, Radiation):
        return wavelength
    return parse_radiation(wavelength)


def _where(raw: RawColumns, index: int) -> str:
    if raw.line_numbers is not None and 0 <= index < raw.line_numbers.size:
        return f" (line {int(raw.line_numbers[index])})"
    return f" (point {index + 1})"


def _decide_axis(raw: RawColumns, path: Path, user_axis: str | None, warnings: list[str]) -> tuple[str, bool]:
    """(axis, guessed)."""
    if raw.axis is not None and raw.axis_explicit:
        if user_axis is not None and user_axis != raw.axis:
            raise InputError(f"{path}: the file gives {_AXIS_WORDS[raw.axis]} data but --axis {user_axis} was passed")
        return raw.axis, False
    if user_axis is not None:
        if raw.axis is not None and raw.axis != user_axis:
            warnings.append(
                f"the header suggests {_AXIS_WORDS[raw.axis]} but axis {user_axis} was given: using {user_axis}"
            )
        return user_axis, False
    if raw.axis is not None:
        return raw.axis, False
    x_max = float(np.nanmax(raw.x)) if raw.x.size else float("nan")
    if x_max > TWO_THETA_GUESS_MIN_DEG:
        warnings.append(f"axis not stated: x up to {x_max:g} taken as 2θ in degrees (pass --axis to override)")
        return "2theta", True
    raise InputError(f"{path}: cannot tell whether x (up to {x_max:g}) is 2θ, Q or d: pass --axis 2theta, q or d")


def _check_finite(raw: RawColumns, path: Path) -> None:
    for name, arr in (("x", raw.x), ("intensity", raw.intensity), ("esd", raw.esd)):
        if arr is None:
            continue
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise InputError(f"{path}: {name} is NaN, infinite or missing{_where(raw, int(bad[0]))}")
    big = np.flatnonzero(np.abs(raw.intensity) > MAX_ABS_INTENSITY)
    if big.size:
        i = int(big[0])
        raise InputError(f"{path}: intensity {raw.intensity[i]:.3g}{_where(raw, i)} is implausibly large")


def _check_range(raw: RawColumns, path: Path, axis: str) -> None:
    x = raw.x
    if axis == "2theta":
        bad = np.flatnonzero((x <= 0.0) | (x >= 180.0))
        what = "2θ outside (0, 180) degrees"
    elif axis == "q":
        bad = np.flatnonzero((x < 0.0) | (x > 1000.0))
        what = "Q outside [0, 1000] Å⁻¹"
    else:
        bad = np.flatnonzero((x <= 0.0) | (x > 1e4))
        what = "d outside (0, 10000] Å"
    if bad.size:
        i = int(bad[0])
        raise InputError(f"{path}: {what}: {x[i]:g}{_where(raw, i)}")


def _order(raw: RawColumns, path: Path, warnings: list[str]) -> np.ndarray:
    """Permutation that makes x ascending; InputError on duplicated x values."""
    x = raw.x
    dx = np.diff(x)
    if np.all(dx > 0):
        return np.arange(x.size)
    if np.all(dx < 0):
        return np.arange(x.size)[::-1]
    order = np.argsort(x, kind="stable")
    dup = np.flatnonzero(np.diff(x[order]) == 0)
    if dup.size:
        i = int(order[dup[0] + 1])
        raise InputError(f"{path}: duplicated axis value {x[i]:g}{_where(raw, i)} (is it two scans joined?)")
    warnings.append("the axis was not in order: points sorted")
    return order


def noise_sigma(intensity: np.ndarray) -> float:
    """Robust white-noise σ of a pattern from its second differences (same unit as ``intensity``)."""
    if intensity.size < 5:
        return 0.0
    d2 = np.diff(intensity, 2)
    return float(1.4826 * np.median(np.abs(d2 - np.median(d2))) / np.sqrt(6.0))


def _check_negative(raw: RawColumns, path: Path, warnings: list[str], order: np.ndarray) -> None:
    y = raw.intensity[order]
    if np.all(y == y[0]):
        raise InputError(f"{path}: no signal: every intensity equals {y[0]:g}")
    neg = np.flatnonzero(y < 0)
    if neg.size == 0:
        return
    sigma = noise_sigma(y)
    if raw.esd is not None:
        sigma = max(sigma, float(np.median(raw.esd)))
    floor = -max(6.0 * sigma, 0.01 * float(np.max(np.abs(y))))
    i = int(np.argmin(y))
    if y[i] < floor or float(np.max(y)) <= 0:
        raise InputError(
            f"{path}: negative intensity {y[i]:g}{_where(raw, int(order[i]))} is beyond noise "
            f"(allowed down to {floor:.3g} for background-subtracted data)"
        )
    warnings.append(f"{neg.size} negative intensities (min {y[i]:.3g}) kept as noise of background-subtracted data")


def finalize_pattern(
    raw: RawColumns,
    path: Path,
    *,
    wavelength: float | str | Radiation | None = None,
    axis: str | None = None,
) -> MeasuredPattern:
    """Validate reader output and convert it to a :class:`MeasuredPattern` on ascending Q (Å⁻¹)."""
    warnings = list(raw.warnings)
    n = raw.x.size
    if n == 0:
        raise InputError(f"{path}: no numeric data found")
    if n < MIN_POINTS:
        raise InputError(f"{path}: only {n} data points; a powder pattern needs at least {MIN_POINTS}")
    _check_finite(raw, path)
    chosen_axis, guessed = _decide_axis(raw, path, normalize_axis(axis), warnings)
    _check_range(raw, path, chosen_axis)
    if raw.esd is not None and np.any(raw.esd < 0):
        i = int(np.flatnonzero(raw.esd < 0)[0])
        raise InputError(f"{path}: negative esd {raw.esd[i]:g}{_where(raw, i)}")
    order = _order(raw, path, warnings)
    _check_negative(raw, path, warnings, order)

    user_rad = resolve_radiation(wavelength)
    radiation, source = raw.radiation, raw.wavelength_source
    if user_rad is not None:
        if raw.radiation is not None and abs(raw.radiation.wavelength_angstrom - user_rad.wavelength_angstrom) > 5e-4:
            warnings.append(
                f"wavelength {user_rad.wavelength_angstrom:g} Å given overrides the file's "
                f"{raw.radiation.wavelength_angstrom:g} Å"
            )
        radiation, source = user_rad, "option"
    x = raw.x[order]
    y = raw.intensity[order].astype(float)
    esd = None if raw.esd is None else raw.esd[order].astype(float)
    two_theta = None
    if chosen_axis == "2theta":
        if radiation is None:
            if guessed:
                raise InputError(
                    f"{path}: x (up to {float(x.max()):g}) looks like 2θ in degrees but no wavelength is "
                    "given: pass --wavelength (Å or a name such as CuKa1), or --axis q/d if it is not 2θ"
                )
            raise InputError(
                f"{path}: the file gives 2θ but no wavelength: pass --wavelength (Å or a name such as CuKa1)"
            )
        two_theta = x.astype(float)
        q = np.asarray(q_from_two_theta(two_theta, radiation.wavelength_angstrom), dtype=float)
    elif chosen_axis == "q":
        q = x.astype(float)
    else:
        q = 2.0 * np.pi / x.astype(float)
        rev = np.argsort(q)
        q, y = q[rev], y[rev]
        esd = None if esd is None else esd[rev]
    metadata = dict(raw.metadata)
    metadata.setdefault("format", raw.format)
    metadata["wavelength_source"] = source
    metadata["axis_guessed"] = guessed
    return MeasuredPattern(
        q_inv_angstrom=q,
        intensity=y,
        esd=esd,
        wavelength_angstrom=None if radiation is None else radiation.wavelength_angstrom,
        radiation=radiation,
        source_axis=chosen_axis,
        two_theta_deg=two_theta,
        path=str(path),
        metadata=metadata,
        warnings=tuple(warnings),
    )
