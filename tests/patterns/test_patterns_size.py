"""Size from peak widths in the sinc² convention: τ (Å), FWHM = 2.783/τ Å⁻¹, column length 2τ."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pxrdsolve.diffraction.radiation import parse_radiation
from pxrdsolve.errors import InputError
from pxrdsolve.patterns import MeasuredPattern, estimate_size, fwhm_q_from_size, size_from_fwhm_q
from pxrdsolve.patterns.size import size_from_widths

PEAKS_Q = [1.3, 2.1, 2.9, 3.8, 4.6, 5.5]
HEIGHTS = [1.0, 0.6, 0.8, 0.5, 0.4, 0.3]


def _pattern(q, y, path="synthetic", **kw) -> MeasuredPattern:
    base = dict(esd=None, wavelength_angstrom=None, radiation=None, source_axis="q", two_theta_deg=None)
    base.update(kw)
    return MeasuredPattern(q_inv_angstrom=q, intensity=y, path=path, metadata={}, warnings=(), **base)


def test_sinc2_fwhm_convention(synth):
    tau = 25.0
    q = np.linspace(-1, 1, 200001)
    y = synth.sinc2_peaks(q, [0.0], tau)
    above = q[y >= 0.5 * y.max()]
    assert above[-1] - above[0] == pytest.approx(fwhm_q_from_size(tau), rel=1e-4)
    assert size_from_fwhm_q(2.7831 / 40.0) == pytest.approx(40.0)


@pytest.mark.parametrize("tau", [10.0, 30.0, 100.0])
def test_recovers_tau_from_sinc2_peaks_with_background_and_noise(synth, tau):
    rng = np.random.default_rng(int(tau))
    q = np.arange(0.5, 7.0, 0.002)
    peaks = synth.sinc2_peaks(q, PEAKS_Q, tau, HEIGHTS)
    y = rng.poisson(2000 * peaks / peaks.max() + 300 * np.exp(-q / 2.0) + 60).astype(float)
    est = estimate_size(_pattern(q, y))
    assert est.size_angstrom == pytest.approx(tau, rel=0.15)
    assert est.column_length_angstrom == pytest.approx(2 * est.size_angstrom)
    assert 0 < est.uncertainty_angstrom < 0.5 * est.size_angstrom
    assert est.n_peaks >= 3 and est.method in ("mean-fwhm", "williamson-hall")
    assert abs(est.size_angstrom - tau) < 3 * est.uncertainty_angstrom + 0.05 * tau


def test_instrument_width_removed_in_quadrature(synth):
    tau, inst = 150.0, 0.018  # size FWHM 0.0186 Å⁻¹, instrument 0.018 Å⁻¹ (Gaussian)
    q = np.arange(0.5, 7.0, 0.0005)
    y = synth.sinc2_peaks(q, PEAKS_Q, tau, HEIGHTS)
    sigma = inst / (2 * math.sqrt(2 * math.log(2)))
    kx = np.arange(-6 * sigma, 6 * sigma, 0.0005)
    kernel = np.exp(-0.5 * (kx / sigma) ** 2)
    y = np.convolve(y, kernel / kernel.sum(), mode="same") + 5.0
    naive = estimate_size(_pattern(q, y))
    corrected = estimate_size(_pattern(q, y), instrument_fwhm_q=inst)
    assert naive.size_angstrom < 0.85 * tau  # the instrument makes peaks look smaller-crystal
    assert corrected.size_angstrom == pytest.approx(tau, rel=0.15)
    assert corrected.instrument_fwhm_q == inst
    with pytest.raises(InputError, match="narrow as the instrument"):
        estimate_size(_pattern(q, y), instrument_fwhm_q=0.05)


def test_williamson_hall_separates_strain(synth):
    tau, eps = 60.0, 0.004
    q = np.arange(0.5, 7.0, 0.001)
    y = np.zeros_like(q)
    for qk, hk in zip(PEAKS_Q, HEIGHTS, strict=True):
        w = fwhm_q_from_size(tau) + 2 * eps * qk  # pseudo-Voigt peaks with Q-dependent width
        u = (q - qk) / w
        y += 1000 * hk * (0.5 / (1 + 4 * u**2) + 0.5 * np.exp(-4 * math.log(2) * u**2))
    est = estimate_size(_pattern(q, y + 20))
    assert est.method == "williamson-hall"
    assert est.size_angstrom == pytest.approx(tau, rel=0.2)
    assert est.strain == pytest.approx(eps, rel=0.3)
    widths = [p.fwhm_q for p in est.peaks]
    assert np.corrcoef([p.q_inv_angstrom for p in est.peaks], widths)[0, 1] > 0.9


def test_size_from_widths_fallbacks():
    tau, err, method, strain = size_from_widths(np.array([2.0]), np.array([0.05]), np.array([0.002]))
    assert method == "single-peak" and tau == pytest.approx(2.7831 / 0.05) and strain is None
    q = np.array([1.0, 2.0, 3.0, 4.0])
    flat = np.array([0.05, 0.051, 0.049, 0.05])
    assert size_from_widths(q, flat, np.full(4, 0.002))[2] == "mean-fwhm"


def test_doublet_partners_are_fitted(synth):
    """Cu Kα1+Kα2 2θ data of τ = 200 Å: the Kα2 partners are fitted, so τ is recovered."""
    rad = parse_radiation("CuKa12")
    lam1, lam2 = rad.wavelengths_angstrom
    tth = np.arange(20.0, 140.0, 0.01)
    q1 = synth.q_of(tth, lam1)  # the pattern's axis: 2θ converted with Kα1
    y = synth.sinc2_peaks(q1, PEAKS_Q, 200.0, HEIGHTS)
    y += 0.5 * synth.sinc2_peaks(synth.q_of(tth, lam2), PEAKS_Q, 200.0, HEIGHTS)  # Kα2 at the same 2θ
    kwargs = dict(wavelength_angstrom=lam1, source_axis="2theta", two_theta_deg=tth)
    with_doublet = estimate_size(_pattern(q1, y + 1.0, radiation=rad, **kwargs))
    single = estimate_size(_pattern(q1, y + 1.0, radiation=parse_radiation("CuKa1"), **kwargs))
    assert with_doublet.size_angstrom == pytest.approx(200.0, rel=0.15)
    assert abs(single.size_angstrom - 200.0) > 2 * abs(with_doublet.size_angstrom - 200.0)


def test_no_peaks_is_an_input_error():
    rng = np.random.default_rng(5)
    q = np.linspace(0.5, 6.0, 3000)
    with pytest.raises(InputError, match="cannot estimate the size"):
        estimate_size(_pattern(q, 100 + rng.normal(0, 1, q.size), path="flat.xy"))
