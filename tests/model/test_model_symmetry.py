"""Invariance/equivariance of the encoder, the score decoder and the heads."""

from __future__ import annotations

import pytest
import torch
from symmetry_helpers import (
    assert_permutation_equivariant,
    assert_permutation_invariant,
    assert_rotation_invariant,
    assert_sensitive,
    assert_translation_invariant,
    random_crystals,
)

from pxrdsolve.crystal import CrystalBatch
from pxrdsolve.model.config import preset
from pxrdsolve.model.model import PXRDSolveModel


@pytest.fixture(scope="module")
def model() -> PXRDSolveModel:
    torch.manual_seed(0)
    return PXRDSolveModel(preset("tiny")).eval()


@pytest.fixture(scope="module")
def crystals() -> CrystalBatch:
    return random_crystals([3, 5, 1, 4], seed=1)


def _latent(model: PXRDSolveModel):
    return lambda c: torch.cat(model.encode(c), -1)


def _score(model: PXRDSolveModel):
    g = torch.Generator().manual_seed(3)
    z = torch.randn(4, model.config.model.latent, generator=g)
    sigma = torch.tensor([0.3, 0.05, 0.01, 0.1])
    return lambda c: model.score(z, c.atomic_numbers, c.frac, c.lattice, c.num_atoms, sigma)


def _heads(model: PXRDSolveModel):
    def fn(c: CrystalBatch) -> torch.Tensor:
        mu, _ = model.encode(c)
        return torch.cat([model.lattice_head(mu, c.num_atoms), model.natoms_head(mu),
                          model.composition_head(mu), model.pxrd_regressor(mu, 20.0)], -1)

    return fn


@torch.no_grad()
def test_encoder_latent_invariances(model, crystals):
    fn = _latent(model)
    assert_sensitive(fn, crystals)
    assert_permutation_invariant(fn, crystals)
    assert_translation_invariant(fn, crystals)
    assert_rotation_invariant(fn, crystals)


@torch.no_grad()
def test_decoder_score_symmetries(model, crystals):
    fn = _score(model)
    assert_sensitive(fn, crystals)
    assert_permutation_equivariant(fn, crystals)
    assert_translation_invariant(fn, crystals, atol=1e-4)
    assert_rotation_invariant(fn, crystals, atol=1e-4)


@torch.no_grad()
def test_model_outputs_rotation_invariant(model, crystals):
    fn = _heads(model)
    assert_rotation_invariant(fn, crystals, atol=1e-4)
    assert_permutation_invariant(fn, crystals, atol=1e-4)


@torch.no_grad()
def test_losses_are_finite_and_batch_order_independent(model, crystals):
    pattern = torch.rand(4, 512, generator=torch.Generator().manual_seed(0))
    mask = torch.ones(4, 512, dtype=torch.bool)
    out = model.losses(crystals, pattern, mask, pattern, torch.Generator().manual_seed(5))
    assert set(out) >= {"total", "coord", "lattice", "kl", "pxrd", "pxrd_encoder", "natoms", "composition"}
    assert all(torch.isfinite(v) for v in out.values())
    again = model.losses(crystals, pattern, mask, pattern, torch.Generator().manual_seed(5))
    assert float(again["total"]) == float(out["total"])  # deterministic given the generator


def test_scatter_native_matches_torch_scatter(model, crystals, monkeypatch):
    import pxrdsolve.ops.scatter as sc

    if sc._ts is None:
        pytest.skip("torch-scatter is not installed")
    with torch.no_grad():
        ref = torch.cat(model.encode(crystals), -1)
        monkeypatch.setenv("PXRDSOLVE_NATIVE_SCATTER", "1")
        native = torch.cat(model.encode(crystals), -1)
    assert torch.allclose(ref, native, atol=1e-5)
