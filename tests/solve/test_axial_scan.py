"""c/a scan of uniaxial candidates: a strain at constant volume that keeps the space group; the candidates it
scans; and on a sharp lab pattern of rutile a template with c/a 6 % off, which the isotropic scan cannot correct,
comes out of the scans (no gradient refinement) with the right c/a."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import RUTILE, lab_pattern, record
from pxrdsolve.solve.axial_scan import AxialScanConfig, axial_indices, ratio_grid, strained, structure_type_key
from pxrdsolve.solve.objective import ObjectiveConfig, prepare_fit_data
from pxrdsolve.solve.refine import RefineConfig, refine_candidates
from pxrdsolve.structure.template import symmetric_template


def _rutile(c_scale: float = 1.0):
    lat = RUTILE["lattice"] @ np.diag([1.0, 1.0, c_scale])
    return record(lat, RUTILE["frac"], RUTILE["z"])


def test_strain_keeps_volume_and_space_group():
    import spglib

    t = symmetric_template(_rutile())
    s = strained(t, 1.05)
    vol = lambda c: c[0] * c[1] * c[2]  # noqa: E731 - tetragonal cell volume
    assert vol(s.cell) == pytest.approx(vol(t.cell), rel=1e-12)
    assert s.cell[2] / s.cell[0] == pytest.approx(1.05 * t.cell[2] / t.cell[0], rel=1e-12)
    rec = s.primitive_record()
    assert spglib.get_symmetry_dataset((rec.lattice, rec.frac, rec.atomic_numbers), symprec=1e-3).number == 136
    assert strained(t, 1.0, 1.02).cell[0] == pytest.approx(1.02 * t.cell[0])


def test_ratio_grid_spans_the_range_with_one_included():
    r = ratio_grid(0.86, 1.16, 0.012)
    assert r.min() >= 0.86 and r.max() <= 1.16 and r.min() < 0.87 and r.max() > 1.14
    assert np.any(np.isclose(r, 1.0)) and np.allclose(r[1:] / r[:-1], 1.012)


def test_indices_take_uniaxial_types_and_cover_their_ratios():
    from helpers import triclinic_record

    tpls = [symmetric_template(_rutile(f)) for f in (1.0, 1.01, 1.4, 2.0)] + [symmetric_template(triclinic_record(0))]
    chi2 = torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0], dtype=torch.float64)
    idx = axial_indices(tpls, chi2, AxialScanConfig(per_type=3))
    assert 4 not in idx  # triclinic: not scanned
    assert len({structure_type_key(tpls[i]) for i in idx}) == 1
    # 1.01 lies inside the range scanned around 1.0 and is skipped; 1.4 and 2.0 lie outside and are kept
    assert sorted(idx) == [0, 2, 3] or sorted(idx) == [1, 2, 3]
    assert len(axial_indices(tpls, chi2, AxialScanConfig(per_type=1))) == 1


@pytest.fixture(scope="module")
def sharp_data():
    return prepare_fit_data(lab_pattern(), ObjectiveConfig(profile="instrument", max_points=10**5),
                            narrowest_fwhm_q=0.005)


@pytest.mark.parametrize("enabled", [True, False])
def test_scan_recovers_c_over_a_of_a_sharp_pattern(sharp_data, enabled):
    start = _rutile(1.06)  # c/a 6 % too large
    cfg = RefineConfig(top_k=0, axial=AxialScanConfig(enabled=enabled))
    res = refine_candidates([start], sharp_data, 5000.0, config=cfg)
    cell = res.templates[0].cell
    ratio = (cell[2] / cell[0]) / (2.959 / 4.594)
    if enabled:
        assert res.stage[0] == "axial"
        assert abs(ratio - 1.0) < 0.006 and abs(cell[0] - 4.594) < 0.03
    else:  # the isotropic scan keeps c/a
        assert res.stage[0] in ("scan", "start") and abs(ratio - 1.06) < 1e-9
