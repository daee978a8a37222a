"""Shared test helpers (import as ``from helpers import ...``): small crystals, fixture paths."""

from __future__ import annotations

import functools
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


# A sharp rutile lab pattern (Cu Kα1+Kα2) rendered exactly by the instrument model: the truth of the
# instrument-fit, polish and c/a-scan tests.
RUTILE = dict(lattice=np.diag([4.594, 4.594, 2.959]),
              frac=[[0, 0, 0], [0.5, 0.5, 0.5], [0.305, 0.305, 0], [0.695, 0.695, 0], [0.805, 0.195, 0.5],
                    [0.195, 0.805, 0.5]], z=[22, 22, 8, 8, 8, 8])


def _true_instrument():
    from pxrdsolve.instrument.model import Instrument

    return Instrument.lab_cu().with_(u=6.0, v=-3.0, w=9.0, y=5.0, sh_l=0.003, zero_deg=0.04, displacement_um=80.0)


TRUE = _true_instrument()


def lab_pattern(tau: float = 5000.0, counts: float = 2e4, seed: int = 0, lattice=None):
    """Rutile (``lattice`` overrides its cell, Å) under :data:`TRUE`, 2θ 20–110° in 0.02° steps, Poisson counts."""
    import torch

    from pxrdsolve.crystal import batch_from_records
    from pxrdsolve.diffraction.peaks import compute_peaks, source_line_sticks
    from pxrdsolve.diffraction.radiation import parse_radiation
    from pxrdsolve.instrument.model import polarisation_ratio
    from pxrdsolve.instrument.profile import ProfileTensors, render_profile
    from pxrdsolve.patterns.types import MeasuredPattern

    rad = parse_radiation("CuKa12")
    lam = rad.wavelength_angstrom
    tth = np.arange(20.0, 110.0, 0.02)
    q = 4 * np.pi / lam * np.sin(np.radians(tth / 2))
    lat = RUTILE["lattice"] if lattice is None else lattice
    rec = record(lat, RUTILE["frac"], RUTILE["z"], b_iso=[0.4] * 6)
    pk = compute_peaks(batch_from_records([rec]), lam, float(q[-1]) + 0.5)
    qs, ii, cc = source_line_sticks(pk.q_inv_angstrom, pk.f_squared, pk.crystal_index, rad)
    ii = ii * polarisation_ratio(qs, lam, TRUE.polarisation)
    y = render_profile(torch.as_tensor(q), qs, ii, cc, 1, tau, ProfileTensors.from_instrument(TRUE, 1), lam,
                       axis="two_theta", method="exact")[0].numpy()
    y = counts * y / y.max() + 200.0 + 100.0 * np.exp(-((tth - 25) / 15) ** 2)
    y = np.random.default_rng(seed).poisson(y).astype(float)
    return MeasuredPattern(q, y, None, lam, rad, "2theta", tth, "lab.xy")


@functools.cache
def shipped_library():
    """The shipped prototype library, loaded once per test session."""
    from pxrdsolve.library.store import load_library

    return load_library()


def space_group_number(rec: CrystalRecord, symprec: float = 1e-3) -> int:
    """spglib's space-group number of a record."""
    import spglib

    return int(spglib.get_symmetry_dataset((rec.lattice, rec.frac, rec.atomic_numbers), symprec=symprec).number)


def record_structure(rec: CrystalRecord):
    """A record as a pymatgen Structure."""
    from pymatgen.core import Lattice, Structure

    return Structure(Lattice(rec.lattice), rec.atomic_numbers.tolist(), rec.frac)
