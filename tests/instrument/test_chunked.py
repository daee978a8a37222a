"""The refinement's fast renderers against the exact TCH ⊗ FCJ ⊗ sinc² renderer, and which one a fit uses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pxrdsolve.diffraction.radiation import parse_radiation
from pxrdsolve.instrument.chunked import render_chunked, render_windowed
from pxrdsolve.instrument.model import Instrument
from pxrdsolve.instrument.profile import ProfileTensors, render_profile
from pxrdsolve.patterns.types import MeasuredPattern
from pxrdsolve.solve.objective import ObjectiveConfig, prepare_fit_data
from pxrdsolve.solve.render import sharp_peaks

LAM = 1.54056
INST = Instrument.lab_cu().with_(u=4.0, v=-2.0, w=6.0, y=3.0, sh_l=0.0, zero_deg=0.03, displacement_um=50.0)


def _grid(step_deg: float = 0.02):
    tth = np.arange(15.0, 110.0, step_deg)
    return torch.as_tensor(4 * np.pi / LAM * np.sin(np.radians(tth / 2)))


def _sticks(n: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    q = torch.as_tensor(np.sort(rng.uniform(1.4, 6.3, n)))
    return q, torch.as_tensor(rng.uniform(0.2, 1.0, n)), torch.zeros(n, dtype=torch.long)


@pytest.mark.parametrize("tau", [10.0, 40.0, 200.0])
def test_chunked_matches_the_exact_renderer_for_nanocrystals(tau):
    q_grid, (q, i, c) = _grid(), _sticks()
    p = ProfileTensors.from_instrument(INST, 1)
    exact = render_profile(q_grid, q, i, c, 1, tau, p, LAM, axis="two_theta", method="exact", window_fwhm=40.0)
    fast = render_chunked(q_grid, q, i, c, 1, tau, p, LAM, axis="two_theta")
    err = float((fast - exact).abs().max() / exact.abs().max())
    # τ = 10 Å peaks span degrees: the exact renderer maps sinc² to 2θ with dQ/d2θ at the peak, the chunked one
    # applies the Jacobian at each point (exact for a density in Q); they differ by a few % of the maximum there
    assert err < (0.05 if tau < 20 else 0.02), err


def test_windowed_matches_the_exact_renderer_for_bulk_peaks():
    q_grid, (q, i, c) = _grid(0.01), _sticks()
    p = ProfileTensors.from_instrument(INST, 1)
    exact = render_profile(q_grid, q, i, c, 1, float("inf"), p, LAM, axis="two_theta", method="exact")
    fast = render_windowed(q_grid, q, i, c, 1, float("inf"), p, LAM, axis="two_theta")
    err = float((fast - exact).abs().max() / exact.abs().max())
    assert err < 0.01, err
    # areas per degree: the windowed profile keeps ≥ 97 % of each peak (Lorentzian tails cut at ±8 FWHM)
    tth = torch.rad2deg(2 * torch.asin(q_grid * LAM / (4 * np.pi)))
    area = float(torch.trapezoid(fast[0], tth))
    assert 0.97 * float(i.sum()) < area < 1.01 * float(i.sum())


def test_the_fit_picks_windowed_rendering_only_for_sharp_peaks():
    rad = parse_radiation("CuKa12")
    q = _grid().numpy()
    tth = np.degrees(2 * np.arcsin(q * LAM / (4 * np.pi)))
    pattern = MeasuredPattern(q, np.ones_like(q) * 100, None, LAM, rad, "2theta", tth, "x.xy")
    data = prepare_fit_data(pattern, ObjectiveConfig(instrument=INST), narrowest_fwhm_q=0.005)
    assert not sharp_peaks(data, 10.0) and not sharp_peaks(data, 40.0)
    assert sharp_peaks(data, 5000.0) and sharp_peaks(data, float("inf"))
