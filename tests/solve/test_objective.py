"""Fit-data construction: the background basis follows the peak width."""

from __future__ import annotations

from pxrdsolve.solve.objective import ObjectiveConfig, background_terms


def test_background_terms_follow_the_peak_width():
    """Sharp peaks (FWHM 0.01 Å⁻¹ over a 5 Å⁻¹ span) get the most terms; broad nanocrystal peaks (τ = 10 Å,
    FWHM 0.28 Å⁻¹) keep the default few; 0 terms (no background) and an unknown width stay as configured."""
    cfg = ObjectiveConfig()
    assert background_terms(cfg, 5.0, 0.01) == cfg.background_terms_max
    assert background_terms(cfg, 5.0, 2.7831 / 10.0) == cfg.background_terms
    assert cfg.background_terms < background_terms(cfg, 5.0, 0.03) < cfg.background_terms_max
    assert background_terms(ObjectiveConfig(background_terms=0), 5.0, 0.01) == 0
    assert background_terms(cfg, 5.0, None) == cfg.background_terms
