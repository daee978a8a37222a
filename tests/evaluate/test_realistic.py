"""The measured-like target generator against pymatgen and analytic oracles: peaks, profiles, shifts,
March–Dollase, Kα2, background, counting noise, recorded parameters, determinism."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from helpers import EXAMPLES
from pxrdsolve.evaluate import realistic as R
from pxrdsolve.evaluate import realistic_physics as rp


def _structure(name: str):
    from pymatgen.core import Structure

    return Structure.from_file(str(EXAMPLES / name))


def _instrument(**kw) -> R.InstrumentParams:
    base = dict(name="Cu lab", wavelengths_angstrom=(1.54056,), weights=(1.0,), two_theta_min_deg=10.0,
                two_theta_max_deg=90.0, step_deg=0.005, caglioti_uvw_deg2=(0.0, 0.0, 1e-4), lorentz_xy_deg=(0.0, 0.0),
                axial_asymmetry_deg=0.0, polarisation="unpolarised", zero_shift_deg=0.0, displacement_mm=0.0,
                goniometer_radius_mm=240.0)
    base.update(kw)
    return R.InstrumentParams(**base)


def _fwhm(x: np.ndarray, y: np.ndarray) -> float:
    """Full width at half maximum of a single peak (linear interpolation of the half crossings)."""
    i = int(np.argmax(y))
    half = y[i] / 2
    lo = i - int(np.argmax(y[i::-1] < half))
    hi = i + int(np.argmax(y[i:] < half))
    x_lo = np.interp(half, [y[lo], y[lo + 1]], [x[lo], x[lo + 1]])
    x_hi = np.interp(half, [y[hi], y[hi - 1]], [x[hi], x[hi - 1]])
    return float(x_hi - x_lo)


@pytest.mark.parametrize("cif", ["SrTiO3.cif", "Si.cif", "TiO2_rutile.cif", "CuAu3_disordered.cif"])
def test_peaks_agree_with_pymatgen(cif):
    """Independent numpy structure factors + LP, merged by Q, equal pymatgen's XRDCalculator peaks."""
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    s = _structure(cif)
    lam = 1.54184
    pm = XRDCalculator(wavelength=lam).get_pattern(s, scaled=False, two_theta_range=(0, 90))
    q_max = 4 * math.pi * math.sin(math.radians(45.0)) / lam
    hkl, q, f2 = rp.reflections(s, q_max)
    tt, _, inten = rp.line_peaks(q, f2, lam, 1.0, "unpolarised")
    keep = inten > 1e-3 * inten.max()
    tt, inten = tt[keep], inten[keep]
    pm_tt, pm_i = np.asarray(pm.x), np.asarray(pm.y)
    pm_keep = pm_i > 1e-3 * pm_i.max()
    np.testing.assert_allclose(tt, pm_tt[pm_keep], atol=1e-6)
    np.testing.assert_allclose(inten / inten.max(), pm_i[pm_keep] / pm_i.max(), rtol=1e-6, atol=1e-9)


def test_kernel_has_unit_area_and_caglioti_gaussian_width():
    """No size, no Lorentzian, no asymmetry: a Gaussian of FWHM √(U tan²θ + V tanθ + W)."""
    u, v, w = 0.01, -0.004, 0.003
    tt = 60.0
    delta, dens = rp.peak_kernel(tt, 4.0, 1.54056, None, (u, v, w), (0.0, 0.0), 0.0, 50.0)
    h = delta[1] - delta[0]
    assert dens.sum() * h == pytest.approx(1.0, abs=1e-9)
    t = math.tan(math.radians(tt / 2))
    assert _fwhm(delta, dens) == pytest.approx(math.sqrt(u * t * t + v * t + w), rel=0.01)


def test_size_profile_width_in_q_is_pxrdnet_sinc2():
    """Bulk-free, near-zero instrument: FWHM in Q of τ sinc²(τΔQ)/π is 2·1.39156/τ."""
    lam, tau = 1.54056, 25.0
    q0 = 3.0
    tt0 = math.degrees(2 * math.asin(lam * q0 / (4 * math.pi)))
    inst = _instrument(step_deg=0.002, caglioti_uvw_deg2=(0.0, 0.0, 1e-8), two_theta_min_deg=20.0,
                       two_theta_max_deg=60.0)
    grid = R.two_theta_grid(inst)
    y = rp.render_peaks(grid, np.array([tt0]), np.array([q0]), np.array([1.0]), lam, tau, (0, 0, 1e-8), (0, 0),
                        0.0, 0.0, 0.0, 240.0)
    q = 4 * np.pi * np.sin(np.radians(grid / 2)) / lam
    y_q = y / ((2 * np.pi / lam) * np.cos(np.radians(grid / 2)) * np.pi / 180)  # density per Å⁻¹
    assert _fwhm(q, y_q) == pytest.approx(2 * 1.39156 / tau, rel=0.01)
    assert np.trapezoid(y, grid) == pytest.approx(1.0, rel=0.02)  # sinc² tails beyond the range are lost


def test_lorentzian_width_and_zero_shift_and_displacement():
    lam, tt0, q0 = 1.54056, 40.0, 4 * math.pi * math.sin(math.radians(20.0)) / 1.54056
    x_l, y_l = 0.05, 0.02
    grid = np.arange(35.0, 45.0, 0.001)
    base = dict(wavelength_angstrom=lam, size_angstrom=None, caglioti=(0, 0, 1e-8), lorentz_xy=(x_l, y_l),
                axial_deg=0.0, radius_mm=240.0)
    y0 = rp.render_peaks(grid, np.array([tt0]), np.array([q0]), np.array([1.0]), zero_shift_deg=0.0,
                         displacement_mm=0.0, **base)
    t = math.radians(tt0 / 2)
    assert _fwhm(grid, y0) == pytest.approx(x_l / math.cos(t) + y_l * math.tan(t), rel=0.01)
    y1 = rp.render_peaks(grid, np.array([tt0]), np.array([q0]), np.array([1.0]), zero_shift_deg=0.1,
                         displacement_mm=0.2, **base)
    expected = 0.1 - math.degrees(2 * 0.2 * math.cos(t) / 240.0)
    assert grid[np.argmax(y1)] - grid[np.argmax(y0)] == pytest.approx(expected, abs=0.0015)


def test_axial_asymmetry_tails_to_low_angle_below_90_and_high_angle_above():
    for tt, sign in ((20.0, -1), (140.0, 1)):
        delta, dens = rp.peak_kernel(tt, 2.0, 1.54056, None, (0, 0, 1e-4), (0.0, 0.0), 0.05, 20.0)
        h = delta[1] - delta[0]
        mean = float(np.sum(delta * dens) * h)
        w = 0.05 * abs(1 / math.tan(math.radians(tt)))
        assert np.sign(mean) == sign and abs(mean) == pytest.approx(w / 3, rel=0.05)  # triangle's centroid


def test_march_dollase_limits_and_normalisation():
    lat = np.diag([3.0, 3.0, 5.0])
    hkl = np.array([[0, 0, 1], [1, 0, 0], [1, 1, 0]])
    r = 0.8
    p = rp.march_dollase(hkl, lat, (0, 0, 1), r)
    assert p[0] == pytest.approx(r**-3) and p[1] == pytest.approx(r**1.5) and p[2] == pytest.approx(r**1.5)
    assert np.allclose(rp.march_dollase(hkl, lat, (0, 0, 1), 1.0), 1.0)
    mu = np.linspace(0, 1, 200001)  # ∫₀¹ (r²μ² + (1 − μ²)/r)^(−3/2) dμ = 1: the texture keeps total intensity
    assert np.trapezoid((r**2 * mu**2 + (1 - mu**2) / r) ** -1.5, mu) == pytest.approx(1.0, abs=1e-6)


def test_kalpha2_doublet_positions_and_ratio():
    s = _structure("Si.cif")
    inst = _instrument(wavelengths_angstrom=R.CU_KA, weights=(1.0, 0.5), two_theta_min_deg=80.0,
                       two_theta_max_deg=100.0, step_deg=0.002, caglioti_uvw_deg2=(0, 0, 1e-4))
    y = R.bragg_profile(s, inst, None, 0.0)
    grid = R.two_theta_grid(inst)
    d = 5.431 / math.sqrt(27)  # Si (333)/(511), 2θ ≈ 94.95° for Kα1
    t1, t2 = (math.degrees(2 * math.asin(lam / (2 * d))) for lam in R.CU_KA)
    i1 = y[np.abs(grid - t1) < 0.03].max()
    i2 = y[np.abs(grid - t2) < 0.03].max()
    assert grid[np.abs(grid - t1) < 0.03][np.argmax(y[np.abs(grid - t1) < 0.03])] == pytest.approx(t1, abs=0.004)
    assert i2 / i1 == pytest.approx(0.5, rel=0.05)  # LP differs by < 2 % between the lines


def test_draw_params_deterministic_cycles_and_in_range():
    a, _ = R.draw_params(7, 3)
    b, _ = R.draw_params(7, 3)
    c, _ = R.draw_params(7, 4)
    assert a == b and a != c
    names = [R.draw_params(0, i)[0].instrument.name for i in range(6)]
    assert names == list(R.INSTRUMENTS) * 2
    for i in range(60):
        p, _ = R.draw_params(1, i, impurity_rows=[(5, "mp-x", "NaCl")])
        inst = p.instrument
        if inst.name == "synchrotron":
            assert 0.4 <= inst.wavelengths_angstrom[0] <= 0.8 and inst.displacement_mm == 0.0
        else:
            assert inst.wavelengths_angstrom == (R.CU_KA if inst.name == "Cu lab" else R.MO_KA)
        assert 1e3 <= p.counts_max <= 1e5 and (p.sample.size_angstrom is None or 5 <= p.sample.size_angstrom <= 100)
        u, v, w = inst.caglioti_uvw_deg2
        assert v * v < 4 * u * w or v == 0  # FWHM² > 0 at every angle
        assert json.loads(json.dumps(p.to_json())) == json.loads(json.dumps(p.to_json()))
    kinds = {R.draw_params(2, i, impurity_rows=[(5, "mp-x", "NaCl")])[1] for i in range(40)}
    assert kinds == {None, 5}  # some cases have the impurity, some not


def test_case_file_reads_back_as_a_user_file_with_recorded_params(tmp_path):
    """The .xy states the doublet, reads back through read_pattern, and its header holds the params."""
    from pxrdsolve.patterns import read_pattern

    s = _structure("SrTiO3.cif")
    params, _ = R.draw_params(0, 0)  # Cu lab
    tt, counts = R.simulate_case(s, params)
    path = tmp_path / "case.xy"
    R.write_case_xy(path, tt, counts, params, "SrTiO3")
    pat = read_pattern(path)
    assert pat.radiation.wavelengths_angstrom == R.CU_KA and pat.source_axis == "2theta"
    assert len(pat.q_inv_angstrom) == len(tt)
    header = [line for line in path.read_text().splitlines() if line.startswith("# params: ")][0]
    assert json.loads(header[len("# params: "):]) == json.loads(json.dumps(params.to_json()))
    tt2, counts2 = R.simulate_case(s, params)
    assert np.array_equal(counts, counts2)  # same seed, same counts


def test_counts_are_poisson_around_the_expected_pattern():
    s = _structure("SrTiO3.cif")
    params, _ = R.draw_params(3, 5)
    _, mu = R.expected_counts(s, params)
    _, counts = R.simulate_case(s, params)
    bragg_max = mu.max() - params.counts_max * params.background_fraction  # background ≤ fraction × max
    assert bragg_max <= params.counts_max * (1 + 1e-9)
    z = (counts - mu) / np.sqrt(np.maximum(mu, 1.0))
    assert abs(z.mean()) < 0.1 and 0.9 < z.std() < 1.1
