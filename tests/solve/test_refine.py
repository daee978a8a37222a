"""Refinement: recovers a known lattice distortion, never returns a worse fit, cell parametrisation."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from helpers import record, simulated_pattern
from pxrdsolve.crystal import batch_from_records
from pxrdsolve.solve.objective import prepare_fit_data
from pxrdsolve.solve.refine import LatticeStageConfig, PositionStageConfig, RefineConfig, refine_candidates
from pxrdsolve.structure.cell import cell_parameters, lattice_from_parameters, ties_for_space_groups

RUTILE_FRAC = [[0, 0, 0], [0.5, 0.5, 0.5], [0.305, 0.305, 0], [0.695, 0.695, 0], [0.805, 0.195, 0.5],
               [0.195, 0.805, 0.5]]
RUTILE_Z = [22, 22, 8, 8, 8, 8]


FAST = RefineConfig(top_k=4, restarts=2, lattice=LatticeStageConfig(steps=40),
                    positions=PositionStageConfig(steps=0, enabled=False))


def test_recovers_c_perturbation_of_tetragonal_cell():
    a, c = 4.594, 2.959
    true = record(np.diag([a, a, c * 1.08]), RUTILE_FRAC, RUTILE_Z)
    start = record(np.diag([a, a, c]), RUTILE_FRAC, RUTILE_Z)
    data = prepare_fit_data(simulated_pattern(true, 20.0, noise=2e-3, background=0.05))
    res = refine_candidates([start], data, 20.0, refine_size=False, config=FAST)
    params = cell_parameters(torch.as_tensor(res.lattice))[0].numpy()
    assert res.stage[0] == "refined"
    np.testing.assert_allclose(params[:3], [a, a, c * 1.08], rtol=4e-3)
    np.testing.assert_allclose(params[3:], 90.0, atol=1e-6)  # tetragonal ties kept
    assert res.metrics_after["r_wp"][0] < 0.5 * res.metrics_before["r_wp"][0]
    assert res.metrics_after["r_wp_net"][0] < 0.05


def test_refinement_never_returns_a_worse_fit():
    a, c = 4.594, 2.959
    true = record(np.diag([a, a, c]), RUTILE_FRAC, RUTILE_Z)
    rng = np.random.default_rng(3)
    starts = [true, record(np.diag([a * 1.02, a * 1.02, c]), RUTILE_FRAC, RUTILE_Z)]
    starts += [record(np.diag(rng.uniform(3.5, 6.0, 3)) + rng.uniform(-0.4, 0.4, (3, 3)), rng.random((4, 3)),
                      [22, 8, 8, 22]) for _ in range(3)]
    data = prepare_fit_data(simulated_pattern(true, 30.0, noise=5e-3))
    res = refine_candidates(starts, data, 30.0, refine_size=True, config=FAST)
    assert np.all(res.metrics_after["chi2"] <= res.metrics_before["chi2"] * (1 + 1e-9))
    assert res.metrics_after["r_wp"][0] < 0.05  # the true cell stays (near) perfect
    assert np.argmin(res.metrics_after["chi2"]) in (0, 1)
    assert abs(res.size_angstrom[0] - 30.0) < 3.0


def test_cell_parametrisation_roundtrip_and_ties():
    lat = torch.tensor([[[4.0, 0, 0], [0, 4.0, 0], [0, 0, 4.0]], [[5.0, 0, 0], [-2.0, 4.33, 0], [0.3, 0.2, 7.0]]],
                       dtype=torch.float64)
    p = cell_parameters(lat)
    back = lattice_from_parameters(p)
    metric = lambda m: m @ m.transpose(-1, -2)  # noqa: E731
    torch.testing.assert_close(metric(back), metric(lat))
    ties = ties_for_space_groups([221, 1])
    assert ties.length_src[0].tolist() == [0, 0, 0]  # cubic: one length
    assert ties.angle_free[0].tolist() == [0.0, 0.0, 0.0]
    assert int(ties.num_free()[0]) == 1
    assert int(ties.num_free()[1]) == 6


def test_config_serialises_to_json():
    text = json.dumps(RefineConfig().to_json())
    assert json.loads(text)["lattice"]["length_window"] == pytest.approx(0.2)


def test_sharp_peaks_volume_error_is_recovered():
    """Bulk/synchrotron-like sharp peaks (τ = 1000 Å): a 5 % too large cubic cell is recovered to 0.2 %
    and a good fit (the fit grid keeps ≥ 3 points per FWHM, the scan broadens the model peaks, the cell
    steps follow the peak width)."""
    from pxrdsolve.solve import scan as sc

    a = 5.64
    frac = [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5],
            [0.5, 0.5, 0.5], [0, 0, 0.5], [0, 0.5, 0], [0.5, 0, 0]]
    z = [11, 11, 11, 11, 17, 17, 17, 17]
    true = record(np.eye(3) * a, frac, z)
    start = record(np.eye(3) * a * 1.05, frac, z)
    data = prepare_fit_data(simulated_pattern(true, 1000.0, n=4000, q_range=(1.0, 6.0)),
                            narrowest_fwhm_q=2.7831 / 1000.0)
    assert data.q_inv_angstrom.numel() >= 3000  # sharp peaks are not averaged away
    assert sc.scan_broadening(data, 10.0, 0.008) == 0.0  # broad nanocrystal peaks: no extra width
    assert sc.scan_broadening(data, 1000.0, 0.008) > 0.1
    cfg = RefineConfig(top_k=1, restarts=1, lattice=LatticeStageConfig(steps=40),
                       positions=PositionStageConfig(steps=0, enabled=False))
    res = refine_candidates([start], data, 1000.0, refine_size=False, config=cfg)
    assert res.templates[0].symbol == "Fm-3m"
    assert abs(res.templates[0].cell[0] - a) < 2e-3 * a
    assert res.metrics_after["r_wp_net"][0] < 0.05
    # the coarse scan itself: broadened, its best factor is the grid point next to the truth
    scales = torch.arange(-15, 16, dtype=torch.float64) * 0.008 + 1.0
    batch = batch_from_records([start])
    s_wide, _ = sc.volume_scan(batch, data, 1000.0, scales, extra_fwhm_q=sc.scan_broadening(data, 1000.0, 0.008))
    assert abs(float(s_wide[0]) - 1 / 1.05) <= 0.004


def test_default_wavelength_of_q_data_stays_below_90_degrees():
    import math

    from pxrdsolve.solve.objective import DEFAULT_WAVELENGTH_ANGSTROM, default_wavelength

    assert default_wavelength(5.7) == DEFAULT_WAVELENGTH_ANGSTROM  # PXRDNet's Q range: Cu Kα
    lam = default_wavelength(8.0)  # a high-Q scan
    assert lam < DEFAULT_WAVELENGTH_ANGSTROM
    assert math.degrees(2 * math.asin(lam * 8.0 / (4 * math.pi))) == pytest.approx(90.0)


def test_refines_the_best_candidate_of_a_further_structure_type_beyond_top_k():
    from pxrdsolve.solve.axial_scan import structure_type_key
    from pxrdsolve.solve.refine_order import refine_indices
    from pxrdsolve.structure.template import symmetric_template

    a, c = 4.594, 2.959
    true = record(np.diag([a, a, c]), RUTILE_FRAC, RUTILE_Z)
    rutiles = [record(np.diag([a * f, a * f, c]), RUTILE_FRAC, RUTILE_Z) for f in (1.0, 1.01, 1.02)]
    other = record(np.eye(3) * 4.2, [[0, 0, 0], [0.5, 0.5, 0.5]], [22, 8])  # CsCl type: another structure type
    starts = rutiles + [other, record(np.eye(3) * 4.3, [[0, 0, 0], [0.5, 0.5, 0.5]], [22, 8])]
    data = prepare_fit_data(simulated_pattern(true, 30.0, noise=5e-3))
    cfg = dataclasses.replace(FAST, top_k=2, diverse_k=0)
    plain = refine_candidates(starts, data, 30.0, refine_size=False, config=cfg)
    assert len(plain.refined_indices) == 2 and set(plain.refined_indices) <= {0, 1, 2}
    res = refine_candidates(starts, data, 30.0, refine_size=False, config=dataclasses.replace(cfg, diverse_k=4))
    assert len(res.refined_indices) == 3  # one more: the best of the second type only (the rutiles are taken)
    extra = res.refined_indices[2]
    assert extra in (3, 4)
    assert structure_type_key(res.templates[extra]) != structure_type_key(res.templates[res.refined_indices[0]])
    assert np.all(res.metrics_after["chi2"] <= res.metrics_before["chi2"] * (1 + 1e-9))
    # the selection itself: χ² order, one candidate per new type, at most diverse_k, finite χ² only
    tpls = [symmetric_template(r, 0.01) for r in starts]
    chi2 = torch.tensor([1.0, 2.0, 3.0, 5.0, 4.0])
    assert refine_indices(tpls, chi2, 2, 4).tolist() == [0, 1, 4]
    assert refine_indices(tpls, chi2, 2, 0).tolist() == [0, 1]
    assert refine_indices(tpls, chi2, 0, 4).tolist() == []  # top_k 0: nothing refined
    assert refine_indices(tpls, torch.tensor([1.0, 2.0, 3.0, float("inf"), float("nan")]), 2, 4).tolist() == [0, 1]
