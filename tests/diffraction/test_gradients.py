"""Gradients through the simulator (for refinement) checked against finite differences."""

from __future__ import annotations

import torch

from helpers import triclinic_record
from pxrdsolve.crystal import batch_from_records
from pxrdsolve.diffraction.peaks import compute_peaks
from pxrdsolve.diffraction.profiles import render_pattern


def _batch():
    return batch_from_records([triclinic_record(0, 3), triclinic_record(1, 2)])


def test_gradcheck_peak_intensities_wrt_frac_and_lattice():
    base = _batch()
    q_max = 3.0

    def f(frac, lattice):
        pt = compute_peaks(base.with_(frac=frac, lattice=lattice), 1.54184, q_max)
        return pt.intensity, pt.q_inv_angstrom

    frac = base.frac.clone().requires_grad_(True)
    lat = base.lattice.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(f, (frac, lat), eps=1e-6, atol=1e-5, rtol=1e-4)


def test_gradcheck_rendered_pattern_wrt_lattice_and_size():
    base = _batch()
    q = torch.linspace(0.8, 2.8, 300, dtype=torch.float64)

    def f(lattice, tau):
        pt = compute_peaks(base.with_(lattice=lattice), 1.54184, 4.0)
        return render_pattern(pt.q_inv_angstrom, pt.intensity, pt.crystal_index, 2, q, tau, 0.02)

    lat = base.lattice.clone().requires_grad_(True)
    tau = torch.tensor([20.0, 35.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(f, (lat, tau), eps=1e-6, atol=1e-4, rtol=1e-3)
