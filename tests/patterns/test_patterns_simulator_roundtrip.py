"""Round trip through the project's own simulator: Mo Kα in 2θ → .xy → read → Q ≙ Cu Kα in Q.

The polarisation convention: intensities carry LP(θ) = (1 + cos² 2θ)/(sin² θ cos θ) at the source's
own θ (sin θ = λQ/4π), so the same crystal measured with two wavelengths differs, at equal Q, only by
the ratio of their LP factors (evaluated peak by peak; the profile is the same in Q).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from helpers import EXAMPLES
from pxrdsolve.crystal import batch_from_records
from pxrdsolve.diffraction.peaks import compute_peaks, lorentz_polarisation
from pxrdsolve.diffraction.profiles import render_pattern
from pxrdsolve.io.structures import StructureItem, parse_item
from pxrdsolve.patterns import read_pattern


def test_mo_two_theta_xy_reads_back_as_the_cu_pattern_in_q(run_cli, tmp_path):
    r = run_cli("simulate", EXAMPLES / "Si.cif", "-o", tmp_path / "mo", "--format", "xy", "--wavelength", "MoKa1",
                "--grid", "2theta:8:40:0.004", "--size", "60", "-q")
    assert r.exit_code == 0, r.output
    pat = read_pattern(tmp_path / "mo" / "Si_60A.xy")
    assert pat.wavelength_angstrom == 0.7093 and pat.source_axis == "2theta"
    q = torch.as_tensor(pat.q_inv_angstrom)
    rec = parse_item(StructureItem("Si", "Si", path=str(EXAMPLES / "Si.cif"))).record
    peaks = compute_peaks(batch_from_records([rec]), 1.54184, float(q[-1]) + 1.0)
    # Cu Kα intensities re-weighted by the Mo/Cu LP ratio of each peak: the Mo pattern in Q
    w = lorentz_polarisation(peaks.q_inv_angstrom, 0.7093) / lorentz_polarisation(peaks.q_inv_angstrom, 1.54184)
    cu_as_mo = render_pattern(peaks.q_inv_angstrom, peaks.intensity * w, peaks.crystal_index, 1, q, 60.0)[0]
    cu_as_mo = (cu_as_mo / cu_as_mo.max()).numpy()
    assert np.abs(cu_as_mo - pat.intensity / pat.intensity.max()).max() < 2e-3
    # the strongest peak sits at the Si 111 position in Q whichever the wavelength
    assert abs(float(q[np.argmax(pat.intensity)]) - 2 * math.pi * math.sqrt(3) / 5.431) < 2e-3
