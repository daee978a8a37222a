"""Model selection: the information criterion and its serial-correlation factor."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pxrdsolve.solve.selection import correlation_factor, final_scores, noise_scale, penalised_chi2


def test_plain_criterion_is_bic_with_scaled_noise():
    chi2, p, n = np.array([1000.0, 990.0]), np.array([10.0, 14.0]), 1000
    s2 = noise_scale(chi2, p, n)
    assert s2 == pytest.approx(min(1000.0 / 990.0, 990.0 / 986.0))
    np.testing.assert_allclose(penalised_chi2(chi2, p, n), chi2 + s2 * p * math.log(n))
    np.testing.assert_allclose(penalised_chi2(chi2, p, n, correlation=1.0), penalised_chi2(chi2, p, n))


@pytest.mark.parametrize(("rho", "kappa"), [(0.0, 1.0), (-0.3, 1.0), (0.5, 3.0), (0.9, 19.0), (0.99, 20.0)])
def test_correlation_factor_from_best_fit(rho, kappa):
    chi2 = np.array([50.0, 10.0, np.nan])
    lag1 = np.array([0.999, rho, 0.0])  # the best (lowest χ²) candidate's ρ counts, NaN fits are ignored
    assert correlation_factor(chi2, lag1, max_factor=20.0) == pytest.approx(kappa)


def test_correlation_factor_off_and_without_fits():
    assert correlation_factor(np.array([1.0]), np.array([0.9]), max_factor=1.0) == 1.0
    assert correlation_factor(np.array([np.nan]), np.array([0.9]), max_factor=20.0) == 1.0


def test_correlated_misfit_prefers_the_simpler_model():
    """A model with 4 more parameters fits 2 % better: significant for white residuals (κ = 1),
    not when the residuals are correlated over ~20 points (κ = 19)."""
    n = 4000
    chi2 = np.array([8000.0, 7840.0])  # simple, complex
    p = np.array([12.0, 16.0])
    white = penalised_chi2(chi2, p, n, correlation=correlation_factor(chi2, np.array([0.0, 0.0]), 20.0))
    smooth = penalised_chi2(chi2, p, n, correlation=correlation_factor(chi2, np.array([0.9, 0.9]), 20.0))
    assert np.argmin(white) == 1
    assert np.argmin(smooth) == 0


def test_final_scores_use_the_best_fits_correlation_and_noise():
    chi2, lag1, p, n = np.array([900.0, 1050.0]), np.array([0.5, 0.0]), np.array([12.0, 8.0]), 200
    out = final_scores(chi2, lag1, p, n, max_factor=20.0)
    np.testing.assert_allclose(out["correlation_factor"], [3.0, 3.0])  # ρ = 0.5 of the best fit → κ = 3
    s2 = noise_scale(chi2, p, n)
    np.testing.assert_allclose(out["noise_scale"], [s2, s2])
    np.testing.assert_allclose(out["score"], chi2 + 3.0 * s2 * p * math.log(n / 3.0))
    off = final_scores(chi2, lag1, p, n, max_factor=1.0)  # data without a noise model: plain criterion
    np.testing.assert_allclose(off["score"], penalised_chi2(chi2, p, n))
    assert off["score"][0] < off["score"][1] and out["score"][0] > out["score"][1]  # κ reverses this pair
