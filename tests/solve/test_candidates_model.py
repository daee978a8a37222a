"""The model candidate source: latent search from the PXRD encoder, Langevin decoding, solver wiring.

A tiny model is trained once per module (a few seconds, as in tests/training) on six cubic
crystals that include SrTiO3; the pattern is the PXRDNet simulation of cubic SrTiO3.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "training"))
sys.path.insert(0, str(Path(__file__).parent))
from test_pipeline import EXAMPLE, fast_config, stand_in_candidates  # noqa: E402
from training_helpers import tiny_config, write_tiny_dataset  # noqa: E402

from pxrdsolve.crystal import CrystalRecord, batch_from_records  # noqa: E402
from pxrdsolve.errors import InputError  # noqa: E402
from pxrdsolve.patterns import ModelPattern  # noqa: E402
from pxrdsolve.solve.candidates_model import (  # noqa: E402
    latent_lr,
    model_candidates,
    model_source,
    optimize_latents,
    skip_reason,
)
from pxrdsolve.solve.formula import parse_formula  # noqa: E402

PEROVSKITE = CrystalRecord(np.eye(3) * 3.905, np.array([[0, 0, 0], [.5, .5, .5], [.5, .5, 0], [.5, 0, .5],
                                                        [0, .5, .5]], float), np.array([38, 22, 8, 8, 8]), np.ones(5))



@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> str:
    from pxrdsolve.training.loop import train_model

    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("model")
    cfg = tiny_config(total_steps=80, warmup_steps=10, checkpoint_every=1000, lr=3e-3)
    return train_model(write_tiny_dataset(d / "tiny.h5"), d / "tiny_model.h5", cfg, seed=0, quiet=True).checkpoint


@pytest.fixture(scope="module")
def tiny_model(tiny_checkpoint):
    from pxrdsolve.model import load_model

    return load_model(tiny_checkpoint)


@pytest.fixture(scope="module")
def srtio3_pattern() -> ModelPattern:
    """Noise-free PXRDNet input pattern of cubic SrTiO3 (τ = 20 Å), every grid point measured."""
    from pxrdsolve.diffraction.peaks import compute_peaks
    from pxrdsolve.diffraction.pxrdnet import pxrdnet_input_patterns

    crystals = batch_from_records([PEROVSKITE])
    peaks = compute_peaks(crystals, 1.54184, 5.7632)
    y = pxrdnet_input_patterns(peaks, 1, torch.tensor([20.0], dtype=torch.float64),
                               torch.tensor([43.0], dtype=torch.float64), noise_std=0.0)[0].double().numpy()
    q = np.zeros(512)
    return ModelPattern(q, y, np.ones(512, bool), np.zeros(512), ())


def _fingerprint(cands) -> list[tuple]:
    return [(c.label, c.record.lattice.tobytes(), c.record.frac.tobytes(), c.record.atomic_numbers.tobytes())
            for c in cands]


def test_latent_lr_warms_up_then_decays_to_the_floor():
    lrs = [latent_lr(s, 100, 0.05, warmup_steps=10, min_ratio=0.1) for s in range(100)]
    assert lrs[0] == pytest.approx(0.005) and lrs[9] == pytest.approx(0.05)
    assert all(a <= b for a, b in zip(lrs[:10], lrs[1:10]))
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert latent_lr(100, 100, 0.05, 10, 0.1) == pytest.approx(0.005)
    assert latent_lr(5, 100, 0.05, 10, 0.1) == latent_lr(5, 100, 0.05, 10, 0.1)  # pure


def test_candidates_have_the_formula_and_valid_cells(tiny_model, srtio3_pattern):
    comp = parse_formula("SrTiO3")  # Z auto: 1..4
    cands = model_candidates(tiny_model, srtio3_pattern, comp, n_candidates=10, steps=30)
    assert len(cands) == 10
    assert [c.label for c in cands] == [f"model #{i}" for i in range(10)]
    assert {c.meta["z"] for c in cands} == {1, 2, 3, 4}  # every Z gets at least one start
    losses = [c.meta["latent_loss"] for c in cands]
    assert losses == sorted(losses)
    for c in cands:
        assert c.source == "model"
        z = c.meta["z"]
        counts = dict(zip(*np.unique(c.record.atomic_numbers, return_counts=True)))
        assert counts == {8: 3 * z, 22: z, 38: z}
        f = c.record.frac
        assert f.shape == (5 * z, 3) and np.isfinite(f).all() and (f >= 0).all() and (f < 1).all()
        lat = c.record.lattice
        vol = np.linalg.det(lat)
        assert np.isfinite(lat).all() and vol > 0
        assert 0.5**3 <= vol / (5 * z) <= 8.0**3
        assert c.meta["latent_loss"] <= c.meta["latent_loss_start"]
        json.dumps(c.meta)


def test_deterministic_for_a_fixed_seed(tiny_model, srtio3_pattern):
    comp = parse_formula("SrTiO3", z=1)
    run = lambda seed: model_candidates(tiny_model, srtio3_pattern, comp, n_candidates=4, steps=10,  # noqa: E731
                                        seed=seed)
    a, b, c = run(0), run(0), run(1)
    assert _fingerprint(a) == _fingerprint(b)
    assert _fingerprint(a) != _fingerprint(c)


def test_latent_search_lowers_the_objective(tiny_model, srtio3_pattern):
    model = tiny_model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    gen = torch.Generator().manual_seed(0)
    z0 = torch.randn(8, model.config.model.latent, generator=gen)  # PXRDNet's random starts
    comp = torch.zeros(model.config.model.num_elements)
    comp[[37, 21, 7]] = torch.tensor([0.2, 0.2, 0.6])
    res = optimize_latents(model, z0, torch.as_tensor(srtio3_pattern.intensity, dtype=torch.float32),
                           torch.ones(512, dtype=torch.bool), torch.full((8,), 5), comp, steps=60)
    assert len(res.history) == 61
    assert res.history[-1] < 0.8 * res.history[0], (res.history[0], res.history[-1])
    assert (res.loss <= res.loss_start).all() and (res.loss < res.loss_start).any()
    assert torch.isfinite(res.z).all() and not torch.equal(res.z, z0)
    for k, v in model.state_dict().items():  # the model is not trained by the search
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in model.parameters())
    again = optimize_latents(model, res.z, torch.as_tensor(srtio3_pattern.intensity, dtype=torch.float32),
                             torch.ones(512, dtype=torch.bool), torch.full((8,), 5), comp, steps=0)
    assert torch.allclose(again.loss, res.loss, atol=1e-6)  # the returned latents score what is reported


def test_latent_search_keeps_the_best_latent_when_adam_overshoots(tiny_model, srtio3_pattern):
    from pxrdsolve.solve.candidates_model import LatentSearchConfig

    z0 = torch.randn(8, tiny_model.config.model.latent, generator=torch.Generator().manual_seed(1))
    comp = torch.zeros(tiny_model.config.model.num_elements)
    comp[[37, 21, 7]] = torch.tensor([0.2, 0.2, 0.6])
    wild = LatentSearchConfig(lr=30.0, warmup_steps=1, min_lr_ratio=1.0)
    res = optimize_latents(tiny_model, z0, torch.as_tensor(srtio3_pattern.intensity, dtype=torch.float32),
                           torch.ones(512, dtype=torch.bool), torch.full((8,), 5), comp, steps=20, config=wild)
    assert res.history[-1] > res.history[0]  # the last iterate is worse than the start ...
    assert (res.loss <= res.loss_start).all()  # ... but the kept one never is


def test_unmeasured_points_are_ignored(tiny_model, srtio3_pattern):
    comp = parse_formula("SrTiO3", z=1)
    mask = srtio3_pattern.q_inv_angstrom.size * [True]
    mask = np.array(mask)
    mask[300:] = False
    clean = replace(srtio3_pattern, intensity=np.where(mask, srtio3_pattern.intensity, 0.0), mask=mask)
    junk = replace(clean, intensity=np.where(mask, clean.intensity, np.random.default_rng(0).random(512)))
    full = replace(srtio3_pattern, mask=np.ones(512, bool))
    a = model_candidates(tiny_model, clean, comp, n_candidates=3, steps=10)
    b = model_candidates(tiny_model, junk, comp, n_candidates=3, steps=10)
    c = model_candidates(tiny_model, full, comp, n_candidates=3, steps=10)
    assert _fingerprint(a) == _fingerprint(b)
    assert [x.meta["pattern_l1"] for x in a] != [x.meta["pattern_l1"] for x in c]


def test_formulas_the_model_cannot_serve_are_refused(tiny_model, srtio3_pattern):
    too_big = parse_formula("SrTiO3", z=5)  # 25 atoms > the model's 20
    assert "limit of 20" in skip_reason(tiny_model, too_big)
    assert "Md" in skip_reason(tiny_model, parse_formula("MdO"))  # Z = 101 outside the 100 elements
    assert skip_reason(tiny_model, parse_formula("SrTiO3")) is None
    with pytest.raises(InputError, match="limit"):
        model_candidates(tiny_model, srtio3_pattern, too_big)
    with pytest.raises(InputError, match="does not cover"):
        model_candidates(tiny_model, replace(srtio3_pattern, mask=np.zeros(512, bool)), parse_formula("SrTiO3"))
    cands, warnings = model_source(None, too_big, tiny_model)
    assert cands == [] and len(warnings) == 1 and "skipped" in warnings[0]


def test_solve_pattern_ranks_model_candidates(tiny_checkpoint):
    from pxrdsolve.solve.pipeline import solve_pattern

    config = replace(fast_config(), model_candidates=4, model_steps=20)
    res = solve_pattern(EXAMPLE, "SrTiO3", size=10.0, z=1, library=lambda comp, n: stand_in_candidates(),
                        checkpoint=tiny_checkpoint, config=config)
    sources = [c.source for c in res.candidates]
    assert sources.count("model") == 4 and sources.count("prototype") == 3
    assert any(r.candidate.source == "model" for r in res.ranked)
    assert res.best.candidate.label == "perovskite"  # a tiny model does not beat the right prototype
    assert res.inputs["n_model_candidates"] == 4 and res.seconds["candidates_model"] > 0
    skipped = solve_pattern(EXAMPLE, "SrTiO3", size=10.0, z=5, library=lambda comp, n: stand_in_candidates(),
                            checkpoint=tiny_checkpoint, config=replace(config, refine=replace(
                                config.refine, top_k=0)))
    assert all(c.source != "model" for c in skipped.candidates)
    assert any("model candidates skipped" in w for w in skipped.warnings)


@pytest.mark.parametrize("kind", ["text", "missing", "other_h5"])
def test_cli_bad_checkpoint_exits_2(kind, tmp_path, monkeypatch):
    import h5py
    import typer
    from typer.testing import CliRunner

    import pxrdsolve.solve.pipeline as pipeline
    from pxrdsolve.cli.solve import solve

    monkeypatch.setattr(pipeline, "_prototype_source", lambda comp, lib, n, sg: stand_in_candidates())
    bad = tmp_path / "model.h5"
    if kind == "text":
        bad.write_text("not a checkpoint\n")
    elif kind == "other_h5":
        with h5py.File(bad, "w") as f:
            f.attrs["kind"] = "pxrdsolve.library"
    app = typer.Typer()
    app.command("solve")(solve)
    app.command("noop")(lambda: None)
    res = CliRunner().invoke(app, ["solve", str(EXAMPLE), "--formula", "SrTiO3", "--checkpoint", str(bad),
                                   "-o", str(tmp_path / "o"), "--quiet"], catch_exceptions=False)
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and str(bad) in lines[0], res.output
    assert not (tmp_path / "o").exists()
