"""Make the shipped example patterns in ``examples/patterns/`` with pxrdsolve's own simulator.

Each pattern is a lab-like 2θ scan: Cu Kα1+Kα2 doublet (I(Kα2)/I(Kα1) = 0.5), nanocrystal size
broadening τ (Å, PXRDNet convention: sinc² kernel, FWHM 2.783/τ Å⁻¹, column length 2τ), an
instrument pseudo-Voigt of FWHM 0.01 Å⁻¹ (η = 0.3), a smooth background and Poisson counting noise.
Run from the repository root:  python examples/make_example_patterns.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pxrdsolve.crystal import batch_from_records
from pxrdsolve.diffraction.grids import q_from_two_theta
from pxrdsolve.diffraction.peaks import compute_peaks
from pxrdsolve.diffraction.profiles import render_pattern
from pxrdsolve.diffraction.radiation import parse_radiation
from pxrdsolve.io.structures import structure_to_record
from pxrdsolve.simulation.render import line_sticks

HERE = Path(__file__).parent
EXAMPLES = [  # (structure CIF, τ Å, output name, peak counts, seed)
    ("SrTiO3.cif", 10.0, "SrTiO3_10A.xy", 4000.0, 1),
    ("TiO2_rutile.cif", 50.0, "TiO2_rutile_50A.xy", 6000.0, 2),
]
TWO_THETA_DEG = np.round(np.arange(10.0, 90.0 + 1e-9, 0.02), 4)
INSTRUMENT_FWHM_Q = 0.01
INSTRUMENT_ETA = 0.3


def simulate(cif: Path, size_angstrom: float, peak_counts: float, seed: int) -> np.ndarray:
    """Counts on :data:`TWO_THETA_DEG` for one structure (see module docstring)."""
    from pymatgen.core import Structure

    rad = parse_radiation("CuKa12")
    record = structure_to_record(Structure.from_file(str(cif)))
    batch = batch_from_records([record])
    q = torch.as_tensor(q_from_two_theta(TWO_THETA_DEG, rad.wavelength_angstrom), dtype=torch.float64)
    peaks = compute_peaks(batch, rad.wavelength_angstrom, float(q[-1]) + 2.0)
    qs, ints, idx = line_sticks(peaks, rad)
    y = render_pattern(qs, ints, idx, 1, q, size_angstrom, INSTRUMENT_FWHM_Q, INSTRUMENT_ETA)[0].numpy()
    y = peak_counts * y / y.max()
    x = (TWO_THETA_DEG - TWO_THETA_DEG[0]) / np.ptp(TWO_THETA_DEG)
    background = 150.0 + 400.0 * np.exp(-4.0 * x) + 60.0 * x
    rng = np.random.default_rng(seed)
    return rng.poisson(y + background).astype(float)


def main() -> None:
    out = HERE / "patterns"
    out.mkdir(exist_ok=True)
    for cif, tau, name, counts, seed in EXAMPLES:
        y = simulate(HERE / "structures" / cif, tau, counts, seed)
        header = (
            f"# {Path(cif).stem} simulated by pxrdsolve (examples/make_example_patterns.py)\n"
            f"# radiation: Cu Ka1/Ka2, wavelength 1.54056 A (Ka2/Ka1 = 0.5)\n"
            f"# size tau = {tau:g} A (column length {2 * tau:g} A), instrument FWHM {INSTRUMENT_FWHM_Q} 1/A, "
            f"eta {INSTRUMENT_ETA}\n# background + Poisson noise, seed {seed}\n# 2theta_deg counts\n"
        )
        body = "\n".join(f"{t:.2f} {int(v)}" for t, v in zip(TWO_THETA_DEG, y))
        (out / name).write_text(header + body + "\n")
        print(f"wrote {out / name} ({len(y)} points, max {y.max():.0f} counts, tau {tau:g} A)")


if __name__ == "__main__":
    main()
