"""Cheap views of the fit data used by candidate selection and annealing."""

from __future__ import annotations

import numpy as np
import torch

from helpers import record, simulated_pattern
from pxrdsolve.solve.fit_views import coarsen, scan_data, truncate_q
from pxrdsolve.solve.objective import ObjectiveConfig, prepare_fit_data
from pxrdsolve.solve.render import sharp_peaks

ROCKSALT = (np.eye(3) * 5.64, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5], [0.5, 0.5, 0.5],
                               [0, 0, 0.5], [0, 0.5, 0], [0.5, 0, 0]], [11] * 4 + [17] * 4)


def _data(size_angstrom: float, n: int = 6000):
    pat = simulated_pattern(record(*ROCKSALT), size_angstrom, n=n, q_range=(1.0, 8.0), background=0.1)
    return prepare_fit_data(pat, ObjectiveConfig(max_points=10**6))


def test_sharp_peaks_are_scanned_on_low_q_only_and_broad_peaks_below_a_higher_limit():
    sharp, broad = _data(3000.0), _data(10.0, n=1500)
    assert sharp_peaks(sharp, 3000.0) and not sharp_peaks(broad, 10.0)
    s = scan_data(sharp, 3000.0, sharp_max_q_inv_angstrom=5.0)
    assert s.q_range[1] <= 5.0 < sharp.q_range[1] and s.basis.shape == (s.n_points, sharp.basis.shape[1])
    assert torch.equal(s.intensity, sharp.intensity[: s.n_points])
    assert scan_data(broad, 10.0, broad_max_q_inv_angstrom=broad.q_range[1] + 0.1) is broad
    b = scan_data(broad, 10.0, broad_max_q_inv_angstrom=5.0)
    assert b.q_range[1] <= 5.0 < broad.q_range[1] and b.n_points > 200
    assert torch.equal(b.intensity, broad.intensity[: b.n_points])


def test_truncate_keeps_too_short_data_and_coarsen_keeps_the_chi2_scale():
    data = _data(3000.0)
    assert truncate_q(data, 1.05) is data  # fewer than 200 points would remain
    c = coarsen(data, fwhm_q=0.05, points_per_fwhm=2.0)
    assert c.n_points < data.n_points / 5
    # weights add up, so Σ w y² (the χ² of a zero model) is nearly kept
    full, coarse = float((data.weight * data.intensity**2).sum()), float((c.weight * c.intensity**2).sum())
    assert abs(coarse / full - 1.0) < 0.2
    assert abs(float(c.weight.sum()) / float(data.weight.sum()) - 1.0) < 0.01  # a partial last group is dropped
