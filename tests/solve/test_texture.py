"""March–Dollase texture: the factor against a numpy oracle (primitive and centred cells), identity at r = 1,
powder average, gradients, and refinement of a textured pattern (r recovered, better fit, --texture none)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from helpers import record
from pxrdsolve.crystal import batch_from_records
from pxrdsolve.diffraction.peaks import compute_peaks
from pxrdsolve.evaluate.realistic_physics import march_dollase as md_oracle
from pxrdsolve.solve.refine import LatticeStageConfig, PositionStageConfig, RefineConfig, refine_candidates
from pxrdsolve.solve.texture import (
    TextureConfig,
    march_dollase,
    march_dollase_weight,
    parse_texture,
    primitive_direction,
    texture_directions,
)
from pxrdsolve.structure.template import symmetric_template

RUTILE_FRAC = [[0, 0, 0], [0.5, 0.5, 0.5], [0.305, 0.305, 0], [0.695, 0.695, 0], [0.805, 0.195, 0.5],
               [0.195, 0.805, 0.5]]
RUTILE_Z = [22, 22, 8, 8, 8, 8]


def _hkl_grid(n: int = 3) -> torch.Tensor:
    r = torch.arange(-n, n + 1)
    hkl = torch.cartesian_prod(r, r, r)
    return hkl[(hkl != 0).any(1)]


def test_factor_matches_numpy_oracle_triclinic():
    rng = np.random.default_rng(1)
    lat = np.diag(rng.uniform(3.0, 7.0, 3)) + rng.uniform(-1.0, 1.0, (3, 3))
    hkl = _hkl_grid()
    for pref, r in (((1, 2, 0), 0.7), ((0, 0, 1), 1.35), ((1, -1, 1), 2.0)):
        got = march_dollase(hkl, torch.zeros(len(hkl), dtype=torch.long), torch.tensor(lat)[None],
                            torch.tensor([pref], dtype=torch.float64), torch.tensor([r], dtype=torch.float64))
        np.testing.assert_allclose(got.numpy(), md_oracle(hkl.numpy(), lat, pref, r), rtol=1e-12)


@pytest.mark.parametrize("kind", ["F", "I", "C"])
def test_direction_in_centred_conventional_cell(kind):
    """The direction is given in the conventional cell, the reflections are enumerated in the primitive one:
    h_p = M·h_c must give the oracle's factor of the same reflection in conventional indices."""
    from pymatgen.core import Lattice, Structure

    if kind == "F":
        st = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
        pref = (1, 1, 0)
    elif kind == "I":
        st = Structure.from_spacegroup("I4/mmm", Lattice.tetragonal(3.9, 12.1), ["Ba", "Cu"], [[0, 0, 0],
                                                                                              [0, 0, 0.35]])
        pref = (1, 0, 1)
    else:
        st = Structure.from_spacegroup("C2/m", Lattice.monoclinic(9.1, 5.3, 6.2, 104.0), ["Ca", "O"],
                                       [[0, 0, 0], [0.2, 0, 0.3]])
        pref = (0, 0, 1)
    rec = record(st.lattice.matrix, st.frac_coords, [s.specie.Z for s in st])
    tpl = symmetric_template(rec)
    assert tpl.centring == kind
    m = tpl.to_primitive
    lat_p, lat_c = tpl.primitive_record().lattice, tpl.conventional_lattice()
    np.testing.assert_allclose(lat_p, m @ lat_c, atol=1e-12)
    hkl_p = _hkl_grid(2)
    hkl_c = hkl_p.double().numpy() @ np.linalg.inv(m).T  # h_c = M⁻¹ h_p (integers obeying the centring)
    np.testing.assert_allclose(hkl_c, np.round(hkl_c), atol=1e-9)
    direction = primitive_direction(torch.tensor([pref]), torch.tensor(m)[None])
    got = march_dollase(hkl_p, torch.zeros(len(hkl_p), dtype=torch.long), torch.tensor(lat_p)[None], direction,
                        torch.tensor([0.72], dtype=torch.float64))
    np.testing.assert_allclose(got.numpy(), md_oracle(np.round(hkl_c), lat_c, pref, 0.72), rtol=1e-11)
    assert got.std() > 0.05  # the texture does distinguish reflections here


def test_ratio_one_is_identity_and_compute_peaks_default_unchanged():
    rec = record(np.diag([4.594, 4.594, 2.959]), RUTILE_FRAC, RUTILE_Z)
    batch = batch_from_records([rec, rec])
    ones = march_dollase(_hkl_grid(), torch.zeros(342, dtype=torch.long), batch.lattice[:1],
                         torch.tensor([[1.0, 1.0, 0.0]]), torch.ones(1, dtype=torch.float64))
    np.testing.assert_allclose(ones.numpy(), 1.0, rtol=0, atol=1e-15)
    plain = compute_peaks(batch, 1.5406, 6.0)
    weighted = compute_peaks(batch, 1.5406, 6.0, reflection_weight=lambda h, c: torch.ones(len(h), dtype=torch.float64))
    assert torch.equal(plain.f_squared, weighted.f_squared) and torch.equal(plain.intensity, weighted.intensity)
    # a real texture: [001] plates (r < 1) strengthen 00l against hk0 of the same crystal, per reflection
    tex = compute_peaks(batch, 1.5406, 6.0, reflection_weight=march_dollase_weight(
        batch.lattice, torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]), torch.tensor([0.7, 0.7], dtype=torch.float64)))
    p0, p1 = tex.crystal(0), tex.crystal(1)
    torch.testing.assert_close(p1["f_squared"], plain.crystal(1)["f_squared"])  # no direction: unchanged

    def ratio(peaks, hkl):
        return float(peaks["f_squared"][(peaks["hkl"].abs() == torch.tensor(hkl)).all(1)][0])

    assert ratio(p0, [0, 0, 2]) / ratio(plain.crystal(0), [0, 0, 2]) == pytest.approx(0.7**-3, rel=1e-9)
    assert ratio(p0, [1, 1, 0]) / ratio(plain.crystal(0), [1, 1, 0]) == pytest.approx(0.7**1.5, rel=1e-9)


@pytest.mark.parametrize("r", [0.5, 0.8, 1.3, 2.0])
def test_powder_average_is_conserved(r):
    """∫ P dΩ/4π = ∫₀¹ P(cos α) d cos α = 1 for every r (Gauss–Legendre in cos α, directions as 'hkl' of a
    cubic unit cell) - and the average over a full shell of a cubic crystal's reflections stays near 1."""
    x, w = np.polynomial.legendre.leggauss(200)
    c = 0.5 * (x + 1.0)
    dirs = torch.tensor(np.stack([np.sqrt(1 - c**2), np.zeros_like(c), c], 1))
    p = march_dollase(dirs, torch.zeros(len(c), dtype=torch.long), torch.eye(3, dtype=torch.float64)[None],
                      torch.tensor([[0.0, 0.0, 1.0]]), torch.tensor([r], dtype=torch.float64))
    assert float((p.numpy() * w).sum() * 0.5) == pytest.approx(1.0, abs=1e-10)
    hkl = _hkl_grid(12)
    shell = hkl.double().norm(dim=1)
    hkl = hkl[(shell > 9.0) & (shell <= 12.0)]  # thousands of directions, nearly uniform on the sphere
    p = march_dollase(hkl, torch.zeros(len(hkl), dtype=torch.long), torch.eye(3, dtype=torch.float64)[None],
                      torch.tensor([[1.0, 1.0, 1.0]]), torch.tensor([r], dtype=torch.float64))
    assert float(p.mean()) == pytest.approx(1.0, abs=0.02)


def test_gradients_in_ratio_and_lattice():
    hkl = _hkl_grid(2)
    cidx = torch.zeros(len(hkl), dtype=torch.long)
    direction = torch.tensor([[1.0, 0.0, 2.0]], dtype=torch.float64)

    def f(lat, r):
        return march_dollase(hkl, cidx, lat, direction, r)

    lat = (torch.diag(torch.tensor([4.0, 5.0, 6.0], dtype=torch.float64)) + 0.3)[None].requires_grad_(True)
    r = torch.tensor([0.83], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(f, (lat, r), eps=1e-6, atol=1e-6)


def test_parse_and_directions():
    assert parse_texture("AUTO") == "auto" and parse_texture("none") == "none"
    assert parse_texture(" 0, 0, 1") == "0,0,1" and parse_texture("[1,1,0]") == "1,1,0"
    for bad in ("1,0", "0,0,0", "a,b,c", "xyz"):
        with pytest.raises(ValueError, match="--texture"):
            parse_texture(bad)
    assert texture_directions("auto", "cubic") == ((1, 0, 0), (1, 1, 0), (1, 1, 1))
    assert (0, 0, 1) in texture_directions("auto", "tetragonal") and len(texture_directions("auto", "triclinic")) == 5
    assert texture_directions("1,1,1", "cubic") == ((1, 1, 1),) and texture_directions("none", "cubic") == ()


def _textured_pattern(rec, r: float, hkl, size_angstrom: float = 30.0, n: int = 700, noise: float = 2e-3):
    """Normalised Q-grid pattern (Cu Kα1, fixed-width Fourier profile) with the texture applied per
    reflection by the numpy oracle on the simulator's primitive-cell reflections."""
    from pxrdsolve.diffraction.radiation import parse_radiation
    from pxrdsolve.patterns.types import MeasuredPattern
    from pxrdsolve.solve.objective import ObjectiveConfig, prepare_fit_data
    from pxrdsolve.solve.render import render_sticks

    rad = parse_radiation("CuKa1")
    q = np.linspace(1.0, 5.5, n)
    data = prepare_fit_data(MeasuredPattern(q, np.ones(n), None, rad.wavelength_angstrom, rad, "q", None, "sim"),
                            ObjectiveConfig(max_points=10**6))
    lat = np.asarray(rec.lattice, float)

    def oracle(h, c):
        return torch.as_tensor(md_oracle(h.numpy(), lat, hkl, r))

    peaks = compute_peaks(batch_from_records([rec]), rad.wavelength_angstrom, 8.5, reflection_weight=oracle)
    y = render_sticks(data, peaks.q_inv_angstrom, peaks.f_squared, peaks.crystal_index, 1,
                      torch.tensor([size_angstrom], dtype=torch.float64))[0].numpy()
    y = y / y.max() + noise * np.random.default_rng(0).standard_normal(n)
    return prepare_fit_data(MeasuredPattern(q, y, None, rad.wavelength_angstrom, rad, "q", None, "sim"))


FAST = RefineConfig(top_k=1, restarts=1, lattice=LatticeStageConfig(steps=20),
                    positions=PositionStageConfig(steps=10), texture=TextureConfig(steps=30))


def test_refinement_recovers_march_dollase_ratio():
    """Rutile plates along [001] (r = 0.75): every direction the tetragonal system distinguishes is tried
    (the directions of auto, given one by one as a user would; auto itself is off for Q-axis patterns fitted
    with the fixed-width profile), [001] fits best, r comes within 0.05, and the fit is much better."""
    rec = record(np.diag([4.594, 4.594, 2.959]), RUTILE_FRAC, RUTILE_Z)
    data = _textured_pattern(rec, 0.75, (0, 0, 1))
    start = record(np.diag([4.594, 4.594, 2.959]) * 1.01, RUTILE_FRAC, RUTILE_Z)
    plain = refine_candidates([start], data, 30.0, config=replace(FAST, texture=TextureConfig(mode="none")))
    auto = refine_candidates([start], data, 30.0, config=replace(FAST, texture=TextureConfig(mode="auto", steps=30)))
    assert auto.march_dollase(0) is None  # Q-axis model-input pattern: auto adds no texture
    fits = {d: refine_candidates([start], data, 30.0, config=replace(
        FAST, texture=TextureConfig(mode=",".join(map(str, d)), steps=30))) for d in texture_directions(
        "auto", "tetragonal")}
    best = min(fits, key=lambda d: fits[d].metrics_after["score"][0])
    assert best == (0, 0, 1)
    tex = fits[best]
    md = tex.march_dollase(0)
    assert md is not None and md["hkl"] == [0, 0, 1]
    assert abs(md["r"] - 0.75) < 0.05
    assert tex.metrics_after["r_wp"][0] < 0.5 * plain.metrics_after["r_wp"][0]
    assert tex.metrics_after["model_params"][0] == plain.metrics_after["model_params"][0] + 1
    assert tex.num_params[0] == plain.num_params[0] + 1  # r refined on top of the same parameters


def test_texture_none_is_the_plain_refinement():
    """--texture none runs no texture stage and reports none; an all-r = 1 texture changes no exact fit."""
    from pxrdsolve.solve.refine import _exact_templates

    rec = record(np.diag([4.594, 4.594, 2.959]), RUTILE_FRAC, RUTILE_Z)
    data = _textured_pattern(rec, 1.0, (0, 0, 1))
    none = replace(FAST, texture=TextureConfig(mode="none"))
    a = refine_candidates([rec], data, 30.0, config=none)
    b = refine_candidates([rec], data, 30.0, config=replace(FAST, texture=TextureConfig(mode="auto", candidates=0)))
    assert "march_dollase_r" not in a.profile and a.march_dollase(0) is None
    np.testing.assert_array_equal(a.calculated, b.calculated)
    np.testing.assert_array_equal(a.metrics_after["score"], b.metrics_after["score"])
    tau = torch.tensor(a.size_angstrom)
    plain = _exact_templates(list(a.templates), data, tau, None)
    unit = _exact_templates(list(a.templates), data, tau, None, {
        "march_dollase_r": torch.ones(1, dtype=torch.float64), "march_dollase_h": torch.zeros(1),
        "march_dollase_k": torch.zeros(1), "march_dollase_l": torch.ones(1)})
    torch.testing.assert_close(plain.chi2, unit.chi2, rtol=1e-12, atol=0.0)
    np.testing.assert_allclose(plain.chi2.numpy(), a.metrics_after["chi2"], rtol=1e-12)


def test_cli_rejects_a_bad_texture(tmp_path, run_cli):
    res = run_cli("rank", tmp_path / "none.cif", "--pattern", tmp_path / "none.xy", "--texture", "1,0")
    assert res.exit_code == 2
    assert "--texture" in res.output and "Traceback" not in res.output
