"""Measured-like evaluation targets (``evaluate --realistic N``): lab and synchrotron patterns of test rows.

Each case is the structure of one row of a test split (never training rows: give the test CSV) with
instrument, sample and counting parameters drawn from ``numpy.random.default_rng([seed, index])``,
so a case is the same whatever shard or resume produces it.  Every parameter is recorded (the
per-material JSON's ``realistic`` entry and a ``# params:`` line of the case's ``.xy``).

Instruments (cycled by case index, so N cases are balanced):
  * ``Cu lab``: Cu Kα1 + Kα2 (1.54056/1.54439 Å, 2 : 1), 2θ from 5–15° to 80–120°, step 0.01–0.02°,
    Caglioti U 0.002–0.02, V −(0–0.9)·2√(UW), W 0.001–0.006 deg², Lorentzian X, Y ≤ 0.03°, axial
    asymmetry A 0.005–0.03° (× |cot 2θ|), zero shift ±0.05°, sample displacement ±0.15 mm at R 200–300 mm;
  * ``Mo lab``: Mo Kα1 + Kα2 (0.70930/0.71359 Å), 2θ from 3–8° to 45–70°, step 0.005–0.01°, widths as Cu;
  * ``synchrotron``: one wavelength 0.4–0.8 Å, 2θ from 1–4° to 30–50°, step 0.002–0.005°, U ≤ 5·10⁻⁴,
    W 10⁻⁵–10⁻⁴ deg², X, Y ≤ 0.005°, A ≤ 0.003°, zero shift ±0.01°, capillary (no displacement).
Sample: τ log-uniform in 5–100 Å (PXRDNet's convention), bulk for a fifth of the cases; B_iso 0.3–1.5 Å²;
with ``preferred_orientation`` a March–Dollase r in 0.7–1.4 along a low-index direction for 30 % of
the cases; with ``impurity`` a second test row of another formula in 30 % of the cases, scaled so its
strongest point is 3–10 % of the main phase's.  Background: Chebyshev polynomial of degree 5 plus an
amorphous hump in Q, 1–20 % of the strongest peak; Poisson counts with 10³–10⁵ (log-uniform)
expected counts above background at the strongest point.
The physics (reflections, profiles) is :mod:`pxrdsolve.evaluate.realistic_physics`, numpy + pymatgen's
form-factor table, independent of the solver's simulator.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pxrdsolve.evaluate import realistic_physics as rp
from pxrdsolve.io.atomic import write_text_atomic

INSTRUMENTS = ("Cu lab", "Mo lab", "synchrotron")
CU_KA = (1.54056, 1.54439)
MO_KA = (0.70930, 0.71359)
BULK_FRACTION = 0.2
PO_FRACTION = 0.3
IMPURITY_FRACTION = 0.3
PO_DIRECTIONS = ((0, 0, 1), (1, 0, 0), (0, 1, 0), (1, 1, 0), (1, 1, 1))
BULK_SIZE_GIVEN_ANGSTROM = 1000.0  # τ told to the solver for a bulk case under --size-given
SIZE_BINS = ((5.0, 10.0, "5–10 Å"), (10.0, 30.0, "10–30 Å"), (30.0, 100.0001, "30–100 Å"))


@dataclass(frozen=True)
class InstrumentParams:
    """Source, scan and profile of one instrument (angles in degrees 2θ, widths in deg / deg²)."""

    name: str
    wavelengths_angstrom: tuple[float, ...]
    weights: tuple[float, ...]
    two_theta_min_deg: float
    two_theta_max_deg: float
    step_deg: float
    caglioti_uvw_deg2: tuple[float, float, float]
    lorentz_xy_deg: tuple[float, float]
    axial_asymmetry_deg: float
    polarisation: str
    zero_shift_deg: float
    displacement_mm: float
    goniometer_radius_mm: float


@dataclass(frozen=True)
class SampleParams:
    """Crystallite size τ (Å, None = bulk), isotropic B (Å²), preferred orientation, impurity."""

    size_angstrom: float | None
    b_iso_angstrom2: float
    march_dollase_r: float | None = None
    march_dollase_hkl: tuple[int, int, int] | None = None
    impurity_id: str | None = None
    impurity_formula: str | None = None
    impurity_peak_fraction: float | None = None
    impurity_size_angstrom: float | None = None


@dataclass(frozen=True)
class RealisticParams:
    """Everything that makes one measured-like case (JSON-serialisable)."""

    seed: int
    index: int
    instrument: InstrumentParams
    sample: SampleParams
    chebyshev: tuple[float, ...]
    hump_q_centre_inv_angstrom: float
    hump_q_sigma_inv_angstrom: float
    hump_height: float
    background_fraction: float  # background maximum / strongest Bragg point
    counts_max: float  # expected counts above background at the strongest point

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def size_bin(self) -> str:
        return size_bin(self.sample.size_angstrom)


def size_bin(size_angstrom: float | None) -> str:
    """Label of the τ bin of a size (``bulk`` for None)."""
    if size_angstrom is None:
        return "bulk"
    for lo, hi, label in SIZE_BINS:
        if lo <= size_angstrom < hi:
            return label
    return "other"


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def draw_instrument(rng: np.random.Generator, name: str) -> InstrumentParams:
    """Instrument parameters of the given kind (see the module docstring for the ranges)."""
    if name == "synchrotron":
        lam = (round(float(rng.uniform(0.4, 0.8)), 5),)
        weights = (1.0,)
        tt = (float(rng.uniform(1.0, 4.0)), float(rng.uniform(30.0, 50.0)))
        step = float(rng.choice([0.002, 0.003, 0.005]))
        u, w = float(rng.uniform(0.0, 5e-4)), _loguniform(rng, 1e-5, 1e-4)
        xy = (float(rng.uniform(0, 0.005)), float(rng.uniform(0, 0.005)))
        axial, pol = float(rng.uniform(0.0, 0.003)), "synchrotron"
        zero, disp, radius = float(rng.uniform(-0.01, 0.01)), 0.0, 1000.0
    else:
        lam = CU_KA if name == "Cu lab" else MO_KA
        weights = (1.0, 0.5)
        if name == "Cu lab":
            tt = (float(rng.uniform(5.0, 15.0)), float(rng.uniform(80.0, 120.0)))
            step = float(rng.choice([0.01, 0.015, 0.02]))
        else:
            tt = (float(rng.uniform(3.0, 8.0)), float(rng.uniform(45.0, 70.0)))
            step = float(rng.choice([0.005, 0.01]))
        u, w = float(rng.uniform(0.002, 0.02)), float(rng.uniform(0.001, 0.006))
        xy = (float(rng.uniform(0, 0.03)), float(rng.uniform(0, 0.03)))
        axial, pol = float(rng.uniform(0.005, 0.03)), "unpolarised"
        zero, disp = float(rng.uniform(-0.05, 0.05)), float(rng.uniform(-0.15, 0.15))
        radius = float(rng.choice([200.0, 240.0, 300.0]))
    v = -float(rng.uniform(0.0, 0.9)) * 2 * math.sqrt(u * w)
    return InstrumentParams(name, lam, weights, round(tt[0], 3), round(tt[1], 3), step, (u, v, w), xy, axial, pol,
                            zero, disp, radius)


def draw_params(seed: int, index: int, *, preferred_orientation: bool = True, impurity_rows: list | None = None,
                instrument: str | None = None) -> tuple[RealisticParams, int | None]:
    """Parameters of case ``index`` (and the row index of its impurity, or None) from ``rng([seed, index])``.
    ``impurity_rows``: candidate (row index, id, formula) of impurity phases (None/empty: no impurity)."""
    rng = np.random.default_rng([int(seed), int(index)])
    inst = draw_instrument(rng, instrument or INSTRUMENTS[index % len(INSTRUMENTS)])
    size = None if rng.uniform() < BULK_FRACTION else round(_loguniform(rng, 5.0, 100.0), 3)
    b_iso = float(rng.uniform(0.3, 1.5))
    po_r = po_hkl = None
    if preferred_orientation and rng.uniform() < PO_FRACTION:
        po_r = float(rng.uniform(0.7, 1.4))
        po_hkl = PO_DIRECTIONS[int(rng.integers(len(PO_DIRECTIONS)))]
    imp = None
    imp_fields: dict[str, Any] = {}
    if impurity_rows and rng.uniform() < IMPURITY_FRACTION:
        imp, imp_id, imp_formula = impurity_rows[int(rng.integers(len(impurity_rows)))]
        imp_size = None if rng.uniform() < BULK_FRACTION else round(_loguniform(rng, 5.0, 100.0), 3)
        imp_fields = {"impurity_id": imp_id, "impurity_formula": imp_formula,
                      "impurity_peak_fraction": float(rng.uniform(0.03, 0.10)), "impurity_size_angstrom": imp_size}
    sample = SampleParams(size, b_iso, po_r, po_hkl, **imp_fields)
    cheb = (1.0, *[float(rng.uniform(-0.4, 0.4)) / i for i in range(1, 6)])
    params = RealisticParams(
        seed=int(seed), index=int(index), instrument=inst, sample=sample, chebyshev=cheb,
        hump_q_centre_inv_angstrom=float(rng.uniform(1.2, 2.2)),
        hump_q_sigma_inv_angstrom=float(rng.uniform(0.25, 0.6)),
        hump_height=float(rng.uniform(0.0, 1.5)), background_fraction=_loguniform(rng, 0.01, 0.2),
        counts_max=round(_loguniform(rng, 1e3, 1e5), 1))
    return params, imp


def two_theta_grid(inst: InstrumentParams) -> np.ndarray:
    """The detector's 2θ points (degrees), equally spaced by the step."""
    n = int(math.floor((inst.two_theta_max_deg - inst.two_theta_min_deg) / inst.step_deg + 1e-9)) + 1
    return inst.two_theta_min_deg + inst.step_deg * np.arange(n)


def bragg_profile(structure, inst: InstrumentParams, size_angstrom: float | None, b_iso_angstrom2: float,
                  po_r: float | None = None, po_hkl: tuple[int, int, int] | None = None) -> np.ndarray:
    """Noise-free Bragg intensity of one phase on the instrument's grid (arbitrary scale)."""
    grid = two_theta_grid(inst)
    lam_min = min(inst.wavelengths_angstrom)
    q_max = 4 * math.pi * math.sin(math.radians(min(inst.two_theta_max_deg + 2.0, 179.0) / 2)) / lam_min
    hkl, q, f2 = rp.reflections(structure, q_max, b_iso_angstrom2)
    f2 = f2 * rp.march_dollase(hkl, structure.lattice.matrix, po_hkl, po_r)
    y = np.zeros_like(grid)
    for lam, weight in zip(inst.wavelengths_angstrom, inst.weights):
        tt, qk, ik = rp.line_peaks(q, f2, lam, weight, inst.polarisation)
        y += rp.render_peaks(grid, tt, qk, ik, lam, size_angstrom, inst.caglioti_uvw_deg2, inst.lorentz_xy_deg,
                             inst.axial_asymmetry_deg, inst.zero_shift_deg, inst.displacement_mm,
                             inst.goniometer_radius_mm)
    return y


def expected_counts(structure, params: RealisticParams, impurity_structure=None) -> tuple[np.ndarray, np.ndarray]:
    """(2θ grid in degrees, expected counts μ ≥ 0) of a case before Poisson noise."""
    inst, s = params.instrument, params.sample
    grid = two_theta_grid(inst)
    bragg = bragg_profile(structure, inst, s.size_angstrom, s.b_iso_angstrom2, s.march_dollase_r,
                          s.march_dollase_hkl)
    bragg = bragg / bragg.max()
    if impurity_structure is not None and s.impurity_peak_fraction:
        imp = bragg_profile(impurity_structure, inst, s.impurity_size_angstrom, s.b_iso_angstrom2)
        bragg = bragg + s.impurity_peak_fraction * imp / imp.max()
    back = rp.chebyshev_background(grid, params.chebyshev)
    back = back - back.min() + 0.15 * (back.max() - back.min() + 1e-12)
    back = back / back.max() + rp.amorphous_hump(grid, inst.wavelengths_angstrom[0], params.hump_q_centre_inv_angstrom,
                                                 params.hump_q_sigma_inv_angstrom, params.hump_height)
    back = back / back.max()
    mu = params.counts_max * (bragg + params.background_fraction * back)
    return grid, mu


def simulate_case(structure, params: RealisticParams, impurity_structure=None) -> tuple[np.ndarray, np.ndarray]:
    """(2θ in degrees, Poisson counts) of a case; the noise is drawn from ``rng([seed, index, 1])``."""
    grid, mu = expected_counts(structure, params, impurity_structure)
    rng = np.random.default_rng([params.seed, params.index, 1])
    return grid, rng.poisson(mu).astype(float)


def radiation_label(inst: InstrumentParams) -> str:
    """Header name of the source: ``CuKa12``/``MoKa12`` for a doublet, the wavelength otherwise."""
    if inst.name == "Cu lab":
        return "CuKa12"
    if inst.name == "Mo lab":
        return "MoKa12"
    return f"{inst.wavelengths_angstrom[0]:.5f} A"


def write_case_xy(path: str | Path, two_theta_deg: np.ndarray, counts: np.ndarray, params: RealisticParams,
                  identifier: str) -> None:
    """Two-column 2θ/counts file whose header states the wavelength (as a user's file does) and, on
    the last header line, every parameter of the case as JSON."""
    inst = params.instrument
    lines = [f"# wavelength: {inst.wavelengths_angstrom[0]:.5f} {radiation_label(inst)}",
             f"# pxrdsolve evaluate --realistic case {params.index} (seed {params.seed}): {identifier}, {inst.name}",
             "# axis: 2theta (degrees); intensity: counts",
             "# params: " + json.dumps(params.to_json(), sort_keys=True)]
    body = "\n".join(f"{x:.5f} {int(y)}" for x, y in zip(two_theta_deg, counts))
    write_text_atomic(Path(path), "\n".join(lines) + "\n" + body + "\n")


def impurity_choices(rows: list[dict[str, str]], formula: str) -> list[tuple[int, str, str]]:
    """(row index, id, formula) of the rows usable as an impurity of a case of reduced ``formula``:
    every row of the file of another formula (``pretty_formula`` column), whatever shard runs."""
    out = []
    for i, r in enumerate(rows):
        f = r.get("pretty_formula") or ""
        if f and f != formula:
            out.append((i, r.get("material_id") or f"row{i}", f))
    return out


def realistic_target(index: int, row: dict[str, str], all_rows: list[dict[str, str]], seed: int, case_dir: Path,
                     *, preferred_orientation: bool = True, impurity: bool = True):
    """Target of case ``index``: the row's structure, its measured-like pattern written to
    ``case_dir/NNNNN_ID.xy`` and read back as a user's file (wavelength from the header)."""
    from pxrdsolve.evaluate.targets import Target, _structure
    from pxrdsolve.patterns import read_pattern

    ident = row.get("material_id") or f"row{index}"
    structure = _structure(row["cif"])
    formula = structure.composition.reduced_formula
    choices = impurity_choices(all_rows, formula) if impurity else []
    params, imp_row = draw_params(seed, index, preferred_orientation=preferred_orientation, impurity_rows=choices)
    imp_structure = _structure(all_rows[imp_row]["cif"]) if imp_row is not None else None
    tt, counts = simulate_case(structure, params, imp_structure)
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in ident)[:60]
    path = Path(case_dir) / f"{index:05d}_{safe}.xy"
    write_case_xy(path, tt, counts, params, ident)
    pattern = read_pattern(path)
    comp = structure.composition
    z = int(round(comp.num_atoms / comp.reduced_composition.num_atoms))
    size = params.sample.size_angstrom if params.sample.size_angstrom is not None else BULK_SIZE_GIVEN_ANGSTROM
    info = {"params": params.to_json(), "radiation": params.instrument.name, "size_bin": params.size_bin,
            "pattern_file": str(path)}
    return Target(index, ident, formula, z, structure, pattern, _eval_pattern(structure), size, "realistic",
                  0.0, info)


def _eval_pattern(structure) -> np.ndarray:
    """PXRDNet's 8192-point evaluation pattern of the reference (conventional cell), for R_wp²."""
    from pxrdsolve.evaluate.harness import eval_patterns

    return eval_patterns([structure])[0]
