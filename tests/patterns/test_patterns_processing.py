"""Background, Kα2 stripping, resampling with a mask, and the end-to-end prepare_for_model."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import trapezoid

from pxrdsolve.diffraction.grids import pxrdnet_fine_q, pxrdnet_input_q, q_from_two_theta
from pxrdsolve.errors import InputError
from pxrdsolve.patterns import (
    polynomial_background,
    prepare_for_model,
    rachinger_strip,
    read_pattern,
    resample_to_grid,
    snip_background,
    snip_window_for_fwhm,
)
from pxrdsolve.patterns.kalpha2 import kalpha2_shift_deg
from pxrdsolve.patterns.size import fit_peak_widths

PEAKS_Q = [1.2, 1.9, 2.6, 3.3, 4.1, 4.8]


def _background(q):
    return 300.0 + 800.0 * np.exp(-q / 1.2) + 40.0 * q


def test_snip_recovers_smooth_background(synth):
    q = np.linspace(0.5, 6.0, 3000)
    bg = _background(q)
    y = bg + synth.gaussian_peaks_q(q, PEAKS_Q, 0.05, heights=[3000, 2000, 1500, 1200, 900, 700])
    est = snip_background(q, y, window_q=snip_window_for_fwhm(0.05))
    inner = (q > 0.8) & (q < 5.7)
    assert np.max(np.abs(est - bg)[inner] / bg[inner]) < 0.03
    net_area = trapezoid(y - est, q)
    true_area = trapezoid(y - bg, q)
    assert net_area == pytest.approx(true_area, rel=0.03)


def test_snip_with_noise_and_negative_data(synth):
    rng = np.random.default_rng(0)
    q = np.linspace(0.5, 6.0, 2000)
    y = synth.gaussian_peaks_q(q, PEAKS_Q, 0.06, heights=[100] * 6) + rng.normal(0, 2, q.size)  # net data
    est = snip_background(q, y, window_q=0.12)
    assert abs(np.median(est)) < 2.0  # follows the noise mean (0), not its minima (-5σ)


def test_polynomial_background(synth):
    q = np.linspace(0.5, 6.0, 2000)
    bg = 200 + 30 * q - 4 * q**2
    y = bg + synth.gaussian_peaks_q(q, PEAKS_Q, 0.05, heights=[500] * 6)
    est = polynomial_background(q, y, degree=4)
    assert np.max(np.abs(est - bg) / bg) < 0.02


def test_rachinger_removes_kalpha2():
    lam1, lam2 = 1.540562, 1.544390
    tth = np.arange(20.0, 120.0, 0.01)
    centres = [30.0, 55.0, 80.0, 110.0]

    def lines(shift):
        return sum(
            1000 * np.exp(-4 * np.log(2) * ((tth - c - s) / 0.08) ** 2) for c, s in zip(centres, shift, strict=True)
        )

    k1 = lines([0, 0, 0, 0])
    shifts = kalpha2_shift_deg(np.array(centres), lam1, lam2)
    assert np.all(shifts > 0) and shifts[-1] > shifts[0]
    # differential form: Δ2θ ≈ 2 tanθ Δλ/λ (0.239° for Cu at 80° 2θ)
    expected = np.rad2deg(2 * np.tan(np.deg2rad(np.array(centres) / 2)) * (lam2 - lam1) / lam1)
    np.testing.assert_allclose(shifts, expected, rtol=0.01)
    measured = k1 + 0.5 * lines(shifts)
    stripped = rachinger_strip(tth, measured, lam1, lam2, 0.5)
    assert np.max(np.abs(stripped - k1)) < 0.03 * 1000
    assert np.max(np.abs(measured - k1)) > 0.3 * 1000  # the test would fail without stripping


def test_mask_lab_cu_to_65_degrees(data_dir):
    p = read_pattern(data_dir / "cu_lab_header.xy")
    q_max = float(q_from_two_theta(65.0, 1.54056))
    assert q_max == pytest.approx(4.38, abs=0.01)
    model = prepare_for_model(p, estimate_size_too=False)
    q = model.q_inv_angstrom
    assert q.size == 512 and np.array_equal(q, pxrdnet_input_q())
    assert not model.mask[q > q_max].any()
    assert not model.mask[q >= 4.38].any()
    q_min = float(q_from_two_theta(10.0, 1.54056))
    assert not model.mask[q < q_min].any()
    edge = q[1] - q[0]
    assert model.mask[(q >= q_min) & (q + edge <= q_max)].all()
    assert np.all(model.intensity[~model.mask] == 0) and np.all(model.background[~model.mask] == 0)
    assert model.intensity[model.mask].max() == pytest.approx(1.0)
    assert model.measured_q_range[1] < q_max


def test_max_resampling_matches_pxrdnet_pooling():
    fine = pxrdnet_fine_q()
    dense = np.linspace(0.3, 7.5, 60_000)
    y = 1 + np.exp(-(((dense - 2.0) / 0.01) ** 2)) + 0.5 * np.exp(-(((dense - 5.0) / 0.03) ** 2))
    values, mask = resample_to_grid(dense, y, pxrdnet_input_q(), method="max")
    # reference: average into PXRDNet's 4096 fine bins, then max-pool by 8
    which = np.searchsorted(fine, dense, side="right") - 1
    sums = np.bincount(which, weights=y, minlength=4096)
    counts = np.bincount(which, minlength=4096)
    fine_mean = np.divide(sums, counts, out=np.zeros(4096), where=counts > 0)
    ref = fine_mean.reshape(512, 8).max(axis=1)
    np.testing.assert_allclose(values[mask], ref[mask], rtol=1e-10)
    assert mask.sum() > 400 and not mask[0]


def test_mean_and_interp_resampling_and_gaps():
    q = np.concatenate([np.linspace(1.0, 3.0, 2001), np.linspace(4.0, 6.0, 2001)])  # gap 3..4
    y = 2.0 * q
    grid = np.linspace(0.0, 8.0, 161)
    for method in ("mean", "interp", "max"):
        values, mask = resample_to_grid(q, y, grid, method=method)
        assert not mask[(grid > 3.05) & (grid < 3.95)].any(), method
        assert mask[(grid >= 1.05) & (grid <= 2.9)].all(), method
        assert not mask[grid > 6.0].any() and not mask[grid < 1.0].any()
    values, mask = resample_to_grid(q, y, grid, method="interp")
    np.testing.assert_allclose(values[mask], 2 * grid[mask])
    values, mask = resample_to_grid(q, y, grid, method="mean")
    np.testing.assert_allclose(values[mask], 2 * (grid[mask] + 0.025), atol=2e-3)  # bin centres
    with pytest.raises(InputError, match="unknown resampling"):
        resample_to_grid(q, y, grid, method="cubic")


def test_coarse_data_are_interpolated_not_masked():
    q = np.linspace(0.5, 6.0, 120)  # step 0.046 > grid step 0.016
    values, mask = resample_to_grid(q, np.ones_like(q), pxrdnet_input_q(), method="max")
    inside = (pxrdnet_input_q() > 0.55) & (pxrdnet_input_q() < 5.9)
    assert mask[inside].all() and np.allclose(values[inside], 1.0)


def test_prepare_steps_and_options(data_dir):
    p = read_pattern(data_dir / "cu_lab_header.xy")
    m = prepare_for_model(p)
    names = [s.name for s in m.steps]
    assert names == ["background", "resample", "clip_negative", "normalize"] or names == [
        "background",
        "resample",
        "normalize",
    ]
    assert 0 < m.steps[0].params["background_fraction"] < 1
    raw = prepare_for_model(p, subtract_background=False, normalize=False, estimate_size_too=False)
    assert [s.name for s in raw.steps] == ["resample"] and np.all(raw.background == 0)
    assert raw.intensity.max() > 1000  # counts, not normalised
    shifted = prepare_for_model(p, zero_shift_deg=0.2, estimate_size_too=False)
    assert shifted.steps[0].name == "zero_shift"
    poly = prepare_for_model(p, background_method="polynomial", estimate_size_too=False)
    assert poly.steps[0].params["method"] == "polynomial"
    with pytest.raises(InputError, match="Kα2 stripping needs"):
        prepare_for_model(p, strip_kalpha2=True)
    with pytest.raises(InputError, match="unknown background"):
        prepare_for_model(p, background_method="spline")
    q_data = read_pattern(data_dir / "q_header.csv")
    with pytest.raises(InputError, match="zero-shift correction needs 2θ"):
        prepare_for_model(q_data, zero_shift_deg=0.1)


def test_zero_shift_moves_peaks_by_the_offset(tmp_path, synth):
    lam = 1.54056
    tth = np.arange(10.0, 90.0, 0.01)
    true_q = [2.0, 3.0, 4.0]
    offset = 0.15  # instrument reads 2θ too high by 0.15°
    q_meas = synth.q_of(tth - offset, lam)
    y = 50 + synth.gaussian_peaks_q(q_meas, true_q, 0.02, heights=[1000] * 3)
    p = read_pattern(synth.write_xy(tmp_path / "z.xy", tth, y, ["wavelength 1.54056"]))
    raw_fit = sorted(f.q_inv_angstrom for f in fit_peak_widths(p.q_inv_angstrom, p.intensity))
    assert raw_fit[0] > 2.0 + 0.005  # uncorrected: shifted
    from pxrdsolve.patterns import apply_zero_shift

    q_corr = synth.q_of(apply_zero_shift(p.two_theta_deg, offset), lam)
    fits = sorted(f.q_inv_angstrom for f in fit_peak_widths(q_corr, p.intensity))
    np.testing.assert_allclose(fits, true_q, atol=1e-3)


def test_round_trip_mo_and_cu_agree_in_q(tmp_path, synth):
    """A pattern defined in Q, measured at Mo Kα and at Cu Kα (2θ files), reads back to the same Q peaks."""
    true_q = [1.5, 2.2, 3.1, 3.9]
    results = {}
    for name, lam, tth_max in (("MoKa", 0.71073, 40.0), ("CuKa", 1.54184, 100.0)):
        tth = np.arange(5.0, tth_max, 0.005 if name == "MoKa" else 0.01)
        y = 20 + synth.gaussian_peaks_q(synth.q_of(tth, lam), true_q, 0.03, heights=[1000, 700, 500, 400])
        path = synth.write_xy(tmp_path / f"{name}.xy", tth, y, [f"radiation: {name}", "2theta intensity"])
        p = read_pattern(path)
        assert p.radiation.name == name
        results[name] = np.array(sorted(f.q_inv_angstrom for f in fit_peak_widths(p.q_inv_angstrom, p.intensity)))
    np.testing.assert_allclose(results["MoKa"], true_q, atol=1e-3)
    np.testing.assert_allclose(results["MoKa"], results["CuKa"], atol=1e-3)
