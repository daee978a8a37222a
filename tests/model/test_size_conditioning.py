"""The PXRD regressor is conditioned on the crystallite size τ, and the latent search compares at one τ."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from pxrdsolve.model.config import preset
from pxrdsolve.model.heads import size_features
from pxrdsolve.model.model import PXRDSolveModel
from pxrdsolve.solve.candidates_model import LatentSearchConfig, _size_for_search, choose_size, given_size


def test_size_features():
    f = size_features(torch.tensor([5.0, 30.0, 200.0, math.inf, 2e4]))
    assert torch.allclose(f[:, 0], torch.tensor([math.log10(5 / 30), 0.0, math.log10(200 / 30), 0.0, 0.0]))
    assert f[:, 1].tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(3)
    return PXRDSolveModel(preset("tiny")).eval()


def test_regressor_output_depends_on_size(model):
    z = torch.randn(3, model.config.model.latent)
    with torch.no_grad():
        a, b = model.pxrd_regressor(z, 5.0), model.pxrd_regressor(z, math.inf)
        per_row = model.pxrd_regressor(z, torch.tensor([5.0, math.inf, 5.0]))
    assert (a - b).abs().max() > 1e-4
    assert torch.equal(per_row[0], a[0]) and torch.equal(per_row[1], b[1])


def test_latent_search_size_given_then_estimated_then_fitted(model):
    n = model.config.model.pxrd_points
    mu = torch.randn(1, model.config.model.latent)
    num_atoms = torch.tensor([4])
    comp = torch.zeros(model.config.model.num_elements)
    comp[[11, 16]] = 0.5
    with torch.no_grad():
        target = model.pxrd_regressor(mu, 20.0)[0]  # the latent's own pattern at τ = 20 Å
    mask = torch.ones(n, dtype=torch.bool)
    cfg = LatentSearchConfig()
    assert choose_size(model, mu, target, mask, num_atoms, comp, cfg) == 20.0
    args = (model, mu, target, mask, num_atoms, comp, cfg)
    estimated = SimpleNamespace(size=SimpleNamespace(size_angstrom=42.0))
    assert _size_for_search(*args, estimated, 7.0) == (7.0, "given")
    assert _size_for_search(*args, estimated, None) == (42.0, "estimated")
    assert _size_for_search(*args, SimpleNamespace(size=None), None) == (20.0, "fitted")
    assert given_size("auto") is None and given_size("12.5") == 12.5 and given_size(30) == 30.0
