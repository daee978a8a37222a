"""Powder CIF (pdCIF) profiles, as in IUCr journal supplementary files.

The profile block is the first ``data_`` block holding a loop with an observed intensity, in this
order of preference: ``_pd_meas_counts_total``, ``_pd_meas_intensity_total``,
``_pd_proc_intensity_total``, ``_pd_proc_intensity_net`` (calculated ``_pd_calc_*`` columns are never
used).  The x axis is ``_pd_proc_2theta_corrected``, ``_pd_meas_2theta_scan`` (or the older
``_pd_meas_angle_2theta``), ``_pd_proc_d_spacing`` or ``_pd_proc_recip_len_Q`` in the same loop, or
implicit from ``_pd_meas_2theta_range_min/max/inc`` (``_pd_proc_…`` for processed intensities).
Values such as ``327(18)`` give esd 18; otherwise ``_pd_proc_ls_weight`` > 0 gives esd = w^-1/2.
The wavelength is ``_diffrn_radiation_wavelength`` (item or loop, with ``…_wt`` weights for a
doublet) or ``_pd_proc_wavelength``, from the profile block, else from another block that is not a
``…simulated…`` one.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from pxrdsolve.diffraction.radiation import Radiation
from pxrdsolve.errors import InputError
from pxrdsolve.patterns.readers.cif import CifBlock, CifLoop, parse_cif
from pxrdsolve.patterns.readers.common import RawColumns, parse_esd_number, radiation_from_wavelength

Y_TAGS = (
    "_pd_meas_counts_total",
    "_pd_meas_intensity_total",
    "_pd_proc_intensity_total",
    "_pd_proc_intensity_net",
)
X_TAGS = (
    ("_pd_proc_2theta_corrected", "2theta"),
    ("_pd_meas_2theta_scan", "2theta"),
    ("_pd_meas_angle_2theta", "2theta"),
    ("_pd_proc_d_spacing", "d"),
    ("_pd_proc_recip_len_q", "q"),
)


def _numbers(values: list[str], lines: list[int], path: Path, tag: str) -> tuple[np.ndarray, np.ndarray]:
    out = np.empty(len(values))
    esd = np.full(len(values), np.nan)
    for i, (v, line) in enumerate(zip(values, lines, strict=True)):
        try:
            out[i], e = parse_esd_number(v)
        except ValueError:
            raise InputError(f"{path}: line {line}: non-numeric value {v[:40]!r} in {tag}") from None
        if e is not None:
            esd[i] = e
    return out, esd


def _usable(loop: CifLoop, tag: str) -> bool:
    return tag in loop.tags and any(v not in (".", "?") for v in loop.column(tag)[0])


def _implicit_axis(block: CifBlock, y_tag: str, n: int, warnings: list[str]) -> np.ndarray | None:
    kinds = ("meas", "proc") if y_tag.startswith("_pd_meas") else ("proc", "meas")
    for kind in kinds:
        start, inc = block.get(f"_pd_{kind}_2theta_range_min"), block.get(f"_pd_{kind}_2theta_range_inc")
        if start is None or inc is None:
            continue
        try:
            x0, dx = parse_esd_number(start)[0], parse_esd_number(inc)[0]
        except ValueError:
            continue
        if not (math.isfinite(x0) and math.isfinite(dx) and dx > 0):
            continue
        x = x0 + dx * np.arange(n)
        stop = block.get(f"_pd_{kind}_2theta_range_max")
        try:
            x1 = parse_esd_number(stop)[0] if stop is not None else math.nan
        except ValueError:
            x1 = math.nan
        if math.isfinite(x1) and abs(x[-1] - x1) > 0.5 * dx:
            warnings.append(
                f"_pd_{kind}_2theta_range_max {x1:g} disagrees with {n} points from "
                f"{x0:g} in steps of {dx:g} (last {x[-1]:g}); min and inc used"
            )
        return x
    return None


def _wavelength(block: CifBlock, path: Path) -> tuple[Radiation | None, str | None]:
    loop = block.find_loop("_diffrn_radiation_wavelength")
    if loop is not None and loop.complete and len(loop.column("_diffrn_radiation_wavelength")[0]) > 1:
        lams = [parse_esd_number(v)[0] for v in loop.column("_diffrn_radiation_wavelength")[0]]
        wts = (
            [parse_esd_number(v)[0] for v in loop.column("_diffrn_radiation_wavelength_wt")[0]]
            if "_diffrn_radiation_wavelength_wt" in loop.tags
            else [1.0] + [0.5] * (len(lams) - 1)
        )
        if all(math.isfinite(v) for v in lams + wts) and wts[0] > 0:
            for lam in lams:
                radiation_from_wavelength(lam)
            return Radiation(
                "+".join(f"{v:g}" for v in lams) + "A", tuple(lams), tuple(w / wts[0] for w in wts)
            ), "_diffrn_radiation_wavelength"
    for tag in ("_diffrn_radiation_wavelength", "_pd_proc_wavelength"):
        text = block.get(tag)
        if text is None:
            continue
        try:
            lam = parse_esd_number(text)[0]
        except ValueError:
            raise InputError(f"{path}: {tag} {text[:40]!r} is not a number") from None
        if math.isfinite(lam):
            return radiation_from_wavelength(lam), tag
    return None, None


def _find_profile(blocks: list[CifBlock]) -> list[tuple[CifBlock, CifLoop, str]]:
    found = []
    for block in blocks:
        for loop in block.loops:
            y_tag = next((t for t in Y_TAGS if _usable(loop, t)), None)
            if y_tag is not None:
                found.append((block, loop, y_tag))
                break
    return found


def read_pdcif(text: str, path: Path) -> RawColumns:
    """Read the first measured profile of a pdCIF file (see module docstring)."""
    blocks = parse_cif(text, path)
    profiles = _find_profile(blocks)
    if not profiles:
        raise InputError(f"{path}: no powder profile (no {', '.join(Y_TAGS)} loop) in this CIF")
    warnings: list[str] = []
    block, loop, y_tag = profiles[0]
    if len(profiles) > 1:
        warnings.append(f"{len(profiles)} profiles in the file: read data_{block.name}")
    if not loop.complete:
        raise InputError(
            f"{path}: the loop at line {loop.line} has {len(loop.values)} values, "
            f"not a multiple of its {len(loop.tags)} columns"
        )
    y_values, lines = loop.column(y_tag)
    y, y_esd = _numbers(y_values, lines, path, y_tag)
    axis = None
    x_tag = next(((t, a) for t, a in X_TAGS if _usable(loop, t)), None)
    if x_tag is not None:
        x, _ = _numbers(loop.column(x_tag[0])[0], lines, path, x_tag[0])
        axis = x_tag[1]
    else:
        x = _implicit_axis(block, y_tag, len(y), warnings)
        if x is None:
            raise InputError(
                f"{path}: the profile in data_{block.name} has no 2θ column and no _pd_meas_2theta_range_min/inc"
            )
        axis = "2theta"
    esd = None
    if np.all(np.isfinite(y_esd)):
        esd = y_esd
    elif "_pd_proc_ls_weight" in loop.tags:
        try:
            w, _ = _numbers(loop.column("_pd_proc_ls_weight")[0], lines, path, "_pd_proc_ls_weight")
        except InputError:
            w = np.zeros(1)
        if np.all(np.isfinite(w)) and np.all(w > 0):
            esd = 1.0 / np.sqrt(w)
    radiation, source = _wavelength(block, path)
    if radiation is None:
        others = [b for b in blocks if b is not block and "simulated" not in b.name.lower()]
        found = [(r, s, b) for b in others for r, s in [_wavelength(b, path)] if r is not None]
        if found:
            radiation, source, where = found[0]
            source = f"{source} in data_{where.name}"
            if len({round(r.wavelength_angstrom, 5) for r, _, _ in found}) > 1:
                warnings.append(
                    f"several wavelengths in the file: used {radiation.wavelength_angstrom:g} Å from data_{where.name}"
                )
    metadata = {
        "format": "pdcif",
        "block": block.name,
        "intensity_tag": y_tag,
        "x_tag": x_tag[0] if x_tag else "implicit 2θ range",
        "radiation_type": block.get("_diffrn_radiation_type"),
    }
    return RawColumns(
        x=x,
        intensity=y,
        esd=esd,
        axis=axis,
        axis_explicit=True,
        radiation=radiation,
        wavelength_source=source,
        format="pdcif",
        line_numbers=np.asarray(lines),
        metadata=metadata,
        warnings=tuple(warnings),
    )
