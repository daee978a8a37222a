"""Evaluation targets: structures from a test CSV with PXRDNet-preset patterns, or measured files.

A PXRDNet-style target is the 512-point model input at the given size τ (with PXRDNet's random
Gaussian σ and N(0, 10⁻³) noise, seeded per material) and the 8192-point evaluation pattern; the
structure is standardised to its conventional cell first, as PXRDNet does.  The solver gets the
points up to 2θ = 90° and knows PXRDNet's instrument Gaussian (FWHM ≈ 0.20 Å⁻¹), as a user knows
their instrument.  A measured target is a
pattern file with its reference CIF (from a ``MANIFEST.tsv`` with ``case_id``, ``formula`` and
``wavelength_A`` columns, files ``<case_id>.xy`` and ``<case_id>.cif`` next to it).
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pxrdsolve.errors import InputError

# PXRDNet's Gaussian: σ ~ U[40.96, 45.06] bins of Q_max/4095 Å⁻¹ (mean 43.0) → FWHM = 2.3548 σ
PXRDNET_INSTRUMENT_FWHM_Q = 2.3548 * 43.0 * (4 * 3.141592653589793 / 1.54184) / 4095


@dataclass(frozen=True)
class Target:
    """One material to solve: identity, reference structure, the pattern given to the solver."""

    index: int
    identifier: str
    formula: str
    z: int | str
    structure: Any  # pymatgen Structure (reference)
    pattern: Any  # MeasuredPattern or a path
    eval_pattern: np.ndarray | None  # PXRDNet 8192-point evaluation pattern of the reference
    size: float | str
    kind: str  # "pxrdnet" or "measured"
    instrument_fwhm_q: float = 0.0  # Å⁻¹, the known instrument Gaussian (0 = unknown)
    info: dict[str, Any] | None = None  # recorded with the results (e.g. a realistic case's parameters)


def read_csv_rows(path: str | Path, first: int | None = None) -> list[dict[str, str]]:
    """Rows of a CDVAE-style CSV (``material_id``, ``cif``), the first ``first`` only if given."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        with open(path, newline="") as fh:
            rows = []
            for i, row in enumerate(csv.DictReader(fh)):
                if first is not None and i >= first:
                    break
                rows.append(row)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if rows and "cif" not in rows[0]:
        raise InputError(f"{path}: CSV has no 'cif' column")
    return rows


def pxrdnet_target(index: int, row: dict[str, str], size_angstrom: float, seed: int) -> Target:
    """Target of one CSV row: conventional cell, PXRDNet input (noisy) + evaluation pattern."""
    from pxrdsolve.crystal import batch_from_records
    from pxrdsolve.diffraction.grids import PXRDNET_N_FINE, PXRDNET_WAVELENGTH_ANGSTROM, pxrdnet_input_q, pxrdnet_q_max
    from pxrdsolve.diffraction.peaks import compute_peaks
    from pxrdsolve.diffraction.pxrdnet import pxrdnet_eval_patterns, pxrdnet_input_patterns, pxrdnet_peak_q_max
    from pxrdsolve.diffraction.radiation import parse_radiation
    from pxrdsolve.io.structures import StructureItem, parse_item
    from pxrdsolve.patterns.types import MeasuredPattern
    from pxrdsolve.simulation.render import structure_generator

    ident = row.get("material_id") or f"row{index}"
    parsed = parse_item(StructureItem(ident, ident, cif_text=row["cif"]), cell="conventional")
    peaks = compute_peaks(batch_from_records([parsed.record]), PXRDNET_WAVELENGTH_ANGSTROM, pxrdnet_peak_q_max())
    gen = structure_generator(seed, index, 0)
    y = pxrdnet_input_patterns(peaks, size_angstrom=size_angstrom, generator=gen)[0].numpy()
    ev = pxrdnet_eval_patterns(peaks)[0].numpy()
    structure = _structure(row["cif"])
    # the solver sees the pattern up to 2θ = 90° (PXRDNet's grid is empty beyond) on the Q of each
    # max-pool window's centre (+3.5 fine bins), where a pooled peak's position belongs
    q = pxrdnet_input_q() + 3.5 * pxrdnet_q_max() / (PXRDNET_N_FINE - 1)
    keep = q <= pxrdnet_peak_q_max()
    pattern = MeasuredPattern(
        q_inv_angstrom=q[keep], intensity=y[keep], esd=None, wavelength_angstrom=PXRDNET_WAVELENGTH_ANGSTROM,
        radiation=parse_radiation("CuKa"), source_axis="q", two_theta_deg=None,
        path=f"{ident} (pxrdnet τ={size_angstrom:g} Å)",
        metadata={"format": "pxrdnet", "wavelength_source": "preset"},
    )
    comp = structure.composition
    z = int(round(comp.num_atoms / comp.reduced_composition.num_atoms))
    return Target(index, ident, comp.reduced_formula, z, structure, pattern, ev, size_angstrom, "pxrdnet",
                  PXRDNET_INSTRUMENT_FWHM_Q)


def manifest_targets(manifest: str | Path) -> list[dict[str, str]]:
    """Rows of an experimental ``MANIFEST.tsv``."""
    path = Path(manifest)
    try:
        with open(path, newline="") as fh:
            return list(csv.DictReader(fh, delimiter="\t"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def measured_target(index: int, row: dict[str, str], folder: Path, size: float | str) -> Target:
    """Target of one manifest row: the measured pattern file and its reference CIF."""
    case = row["case_id"]
    cif = folder / f"{case}.cif"
    xy = folder / f"{case}.xy"
    if not cif.exists() or not xy.exists():
        raise InputError(f"{folder}: missing {case}.xy or {case}.cif")
    structure = _structure(cif.read_text())
    lam = row.get("wavelength_A", "NA")
    from pxrdsolve.patterns import read_pattern

    pattern = read_pattern(xy, wavelength=None if lam in ("", "NA") else float(lam),
                           axis="q" if row.get("axis") == "Q" else None)
    comp = structure.composition
    try:  # Z of the primitive cell: the solver works on primitive cells (≤ 20 atoms), and a reference CIF
        # in its conventional cell (Si: 8 atoms, corundum: 30) would force templates of the wrong size
        prim = structure.get_primitive_structure().composition
        z: int | str = int(round(prim.num_atoms / comp.reduced_composition.num_atoms))
    except (ZeroDivisionError, ValueError):
        z = "auto"
    return Target(index, case, comp.reduced_formula, z, structure, pattern, None, size, "measured")


def _structure(cif_text: str):
    from pxrdsolve.io.structures import _parse_cif

    return _parse_cif(cif_text)

