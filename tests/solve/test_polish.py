"""Levenberg–Marquardt polish: from a state that Adam would leave (cell 0.15 % off, an O coordinate 0.01 off,
B too large, preset widths, no zero/displacement), every parameter converges to the truth of an exactly rendered
lab pattern, χ² falls to the counting noise, and a candidate is never made worse."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import RUTILE, TRUE, lab_pattern, record
from pxrdsolve.solve.objective import ObjectiveConfig, prepare_fit_data
from pxrdsolve.solve.polish import PolishConfig, _parameters, _State, polish_candidates
from pxrdsolve.solve.refine import RefineConfig, _exact_templates
from pxrdsolve.solve.render import profile_defaults
from pxrdsolve.structure.template import symmetric_template


@pytest.fixture(scope="module")
def setup():
    data = prepare_fit_data(lab_pattern(), ObjectiveConfig(profile="instrument", max_points=10**5),
                            narrowest_fwhm_q=0.005)
    frac = np.array(RUTILE["frac"], float)
    frac[2:4, :2] += np.array([[0.01, 0.01], [-0.01, -0.01]])  # O x: 0.305 → 0.315 (4f x,x,0)
    frac[4:, 0] += np.array([0.01, -0.01])
    frac[4:, 1] += np.array([-0.01, 0.01])
    start = symmetric_template(record(RUTILE["lattice"] * 1.0015, frac, RUTILE["z"], b_iso=[1.5] * 6))
    return data, start


def _o_x(t) -> float:
    o = [o for o in t.orbits if o.species[0][0] == 8][0]
    x = float(o.position[0])
    return min(x % 1.0, 1.0 - x % 1.0)


def test_parameters_follow_the_symmetry(setup):
    data, start = setup
    s = _State(start, 5000.0, 0.0, {"w": 5.0, "displacement_um": 0.0})
    params, values = _parameters(s, refine_size=False, zero=True, widths=("w",), b_bounds=(0.0, 4.0),
                                 tau_bounds=(2.0, 5000.0), zero_window=0.3, r_bounds=(0.5, 2.0))
    kinds = [p.kind for p in params]
    # tetragonal: a and c; one free coordinate (O 4f); B of two orbits; zero; W and displacement
    assert kinds.count("cell_len") == 2 and kinds.count("cell_ang") == 0
    assert kinds.count("pos") == 1 and kinds.count("b") == 2 and kinds.count("zero") == 1
    assert kinds.count("prof") == 2 and len(values) == len(params)


def test_polish_converges_every_parameter_to_the_truth(setup):
    data, start = setup
    cfg = RefineConfig(polish=PolishConfig(top=1, iterations=25))
    tau = torch.tensor([5000.0], dtype=torch.float64)
    zero = torch.zeros(1, dtype=torch.float64)
    profile = {"displacement_um": profile_defaults(data, "displacement_um", 1)}
    before = float(_exact_templates([start], data, tau, zero, profile).chi2[0])
    chi2 = torch.tensor([before], dtype=torch.float64)
    templates = [start]
    changed = polish_candidates(templates, [0], data, tau, zero, profile, chi2, np.zeros(1), False, cfg,
                                _exact_templates)
    assert changed == [0]
    after = float(_exact_templates(templates, data, tau, zero, profile).chi2[0])
    assert after == pytest.approx(float(chi2[0]), rel=1e-9)
    gof = after / (data.n_points - 12)
    # measured: χ² 304047 → 4821 on 4500 points; a 4.5943, c 2.9593; O x 0.3052; B 0.48 / 0.43
    assert after < 0.05 * before and gof < 1.3, (before, after, gof)
    t = templates[0]
    assert abs(t.cell[0] - 4.594) < 5e-4 and abs(t.cell[2] - 2.959) < 5e-4
    assert abs(_o_x(t) - 0.305) < 0.002
    assert all(abs(o.b_iso - 0.4) < 0.2 for o in t.orbits)
    for name in ("u", "w", "y"):  # the refined widths move from the lab preset (U 2, W 5, Y 2) to the truth
        assert name in profile
    fw = [sum(TRUE.fwhm_deg(tt)) for tt in (40.0, 80.0)]
    inst = TRUE.with_(**{k: float(v[0]) for k, v in profile.items() if k in ("u", "v", "w", "x", "y", "sh_l")})
    fw_fit = [sum(inst.fwhm_deg(tt)) for tt in (40.0, 80.0)]
    assert all(abs(a - b) < 0.2 * b for a, b in zip(fw_fit, fw)), (fw_fit, fw)


def test_polish_never_makes_a_candidate_worse(setup):
    data, start = setup
    tau = torch.tensor([5000.0], dtype=torch.float64)
    zero = torch.zeros(1, dtype=torch.float64)
    profile: dict[str, torch.Tensor] = {}
    # a χ² below anything the polish can reach: nothing is replaced
    chi2 = torch.tensor([1.0], dtype=torch.float64)
    templates = [start]
    assert polish_candidates(templates, [0], data, tau, zero, profile, chi2, np.zeros(1), False,
                             RefineConfig(polish=PolishConfig(top=1, iterations=2)), _exact_templates) == []
    assert templates[0] is start and float(chi2[0]) == 1.0
