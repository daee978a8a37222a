"""Annealed Langevin sampling with the composition teacher-forced."""

from __future__ import annotations

import torch

from pxrdsolve.model.config import preset
from pxrdsolve.model.model import PXRDSolveModel
from pxrdsolve.model.sampler import LangevinSettings, langevin_sample


def test_langevin_keeps_composition_and_returns_valid_coordinates():
    torch.manual_seed(0)
    model = PXRDSolveModel(preset("tiny")).eval()
    num_atoms = torch.tensor([2, 5, 3, 5])
    types = torch.tensor([8, 22, 3, 3, 8, 8, 8, 26, 26, 8, 55, 17, 17, 17, 17])
    z = torch.randn(4, model.config.model.latent)
    out = langevin_sample(model, z, types, num_atoms, settings=LangevinSettings(steps_per_level=3),
                          generator=torch.Generator().manual_seed(1))
    assert torch.equal(out.atomic_numbers, types) and torch.equal(out.num_atoms, num_atoms)
    assert out.frac.shape == (15, 3)
    assert torch.isfinite(out.frac).all() and (out.frac >= 0).all() and (out.frac < 1).all()
    assert torch.isfinite(out.lattice).all() and (out.volume_angstrom3 > 0).all()
    # the coordinates moved away from the uniform start and differ between candidates
    assert out.frac.std() > 0.05
    again = langevin_sample(model, z, types, num_atoms, settings=LangevinSettings(steps_per_level=3),
                            generator=torch.Generator().manual_seed(1))
    assert torch.equal(again.frac, out.frac)


def test_langevin_uses_given_lattice():
    model = PXRDSolveModel(preset("tiny")).eval()
    lat = torch.diag(torch.tensor([3.0, 4.0, 5.0])).unsqueeze(0)
    out = langevin_sample(model, torch.zeros(1, model.config.model.latent), torch.tensor([6, 6]),
                          torch.tensor([2]), lattice=lat, settings=LangevinSettings(steps_per_level=1))
    assert torch.equal(out.lattice, lat)
