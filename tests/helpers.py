"""Shared test helpers (import as ``from helpers import ...``): small crystals, fixture paths."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from pxrdsolve.crystal import CrystalRecord

DATA = Path(__file__).parent / "data"
EXAMPLES = Path(__file__).parents[1] / "examples" / "structures"


def record(lattice, frac, z, occ=None, b_iso=None) -> CrystalRecord:
    frac = np.asarray(frac, float).reshape(-1, 3)
    n = len(frac)
    return CrystalRecord(np.asarray(lattice, float), frac, np.asarray(z),
                         np.ones(n) if occ is None else np.asarray(occ, float),
                         None if b_iso is None else np.asarray(b_iso, float))


def structure_from_cif(text: str):
    from pymatgen.io.cif import CifParser

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CifParser.from_str(text).parse_structures(primitive=False)[0]


def triclinic_record(seed: int = 0, n_atoms: int = 5) -> CrystalRecord:
    """A random low-symmetry cell (Å) with random atoms."""
    rng = np.random.default_rng(seed)
    lat = np.diag(rng.uniform(4.0, 7.0, 3)) + rng.uniform(-1.0, 1.0, (3, 3))
    frac = rng.random((n_atoms, 3))
    z = rng.choice([8, 12, 14, 22, 26, 38, 56], n_atoms)
    return record(lat, frac, z)



def simulated_pattern(rec, size_angstrom: float, n: int = 500, q_range=(1.0, 5.5), noise: float = 0.0,
                      background: float = 0.0, seed: int = 0):
    """A normalised pattern on a uniform Q grid (Å⁻¹), Cu Kα1 only, optional noise and flat background."""
    import torch

    from pxrdsolve.crystal import batch_from_records
    from pxrdsolve.diffraction.peaks import compute_peaks
    from pxrdsolve.diffraction.radiation import parse_radiation
    from pxrdsolve.patterns.types import MeasuredPattern
    from pxrdsolve.solve.objective import ObjectiveConfig, prepare_fit_data
    from pxrdsolve.solve.render import render_sticks

    rad = parse_radiation("CuKa1")
    q = np.linspace(*q_range, n)
    proto = MeasuredPattern(q, np.ones(n), None, rad.wavelength_angstrom, rad, "q", None, "sim")
    data = prepare_fit_data(proto, ObjectiveConfig(max_points=10**6))
    peaks = compute_peaks(batch_from_records([rec]), rad.wavelength_angstrom, q_range[1] + 3.0)
    y = render_sticks(data, peaks.q_inv_angstrom, peaks.f_squared, peaks.crystal_index, 1,
                      torch.tensor([size_angstrom], dtype=torch.float64))[0].numpy()
    y = y / y.max() + background
    y = y + noise * np.random.default_rng(seed).standard_normal(n)
    return MeasuredPattern(q, y, None, rad.wavelength_angstrom, rad, "q", None, "sim")
