"""Profiles against closed forms: sinc² (size), Gaussian, Lorentzian; grids; area."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pxrdsolve.diffraction.profiles import SINC2_FWHM_TIMES_TAU, ProfileSpec, render_pattern, render_sticks

QP = torch.tensor([2.0, 3.3, 5.2], dtype=torch.float64)
IP = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
CI = torch.zeros(3, dtype=torch.long)


def sinc2(q, tau):
    return sum(float(i) * tau / math.pi * np.sinc(tau * (q - float(p)) / math.pi) ** 2 for p, i in zip(QP, IP))


@pytest.mark.parametrize("reproducible", [True, False])
@pytest.mark.parametrize("tau", [5.0, 10.0, 100.0])
def test_sinc2_size_profile_matches_closed_form(tau, reproducible):
    q = torch.linspace(0.5, 6.0, 3001, dtype=torch.float64)
    y = render_pattern(QP, IP, CI, 1, q, tau, batch_reproducible=reproducible)[0].numpy()
    ref = sinc2(q.numpy(), tau)
    assert np.abs(y - ref).max() / ref.max() < 5e-4


def test_gaussian_and_lorentzian_instrument_profiles():
    q = torch.linspace(0.5, 6.0, 2000, dtype=torch.float64)
    fwhm = 0.05
    s = fwhm / (2 * math.sqrt(2 * math.log(2)))
    g = render_pattern(QP, IP, CI, 1, q, math.inf, fwhm)[0].numpy()
    ref_g = sum(float(i) / (s * math.sqrt(2 * math.pi)) * np.exp(-0.5 * ((q.numpy() - float(p)) / s) ** 2)
                for p, i in zip(QP, IP))
    assert np.abs(g - ref_g).max() / ref_g.max() < 1e-6
    lor = render_pattern(QP, IP, CI, 1, q, math.inf, fwhm, 1.0)[0].numpy()
    hw = fwhm / 2
    ref_l = sum(float(i) * hw / math.pi / ((q.numpy() - float(p)) ** 2 + hw**2) for p, i in zip(QP, IP))
    assert np.abs(lor - ref_l).max() / ref_l.max() < 5e-4


def test_area_is_intensity_and_fwhm_follows_convention():
    q = torch.linspace(0.0, 8.0, 16001, dtype=torch.float64)
    tau = 40.0
    y = render_pattern(QP[:1], IP[:1], CI[:1], 1, q, tau)[0].numpy()
    area = np.trapezoid(y, q.numpy()) if hasattr(np, "trapezoid") else np.trapz(y, q.numpy())
    assert abs(area - 1.0) < 5e-3  # sinc² tails beyond the window carry the rest
    above = q.numpy()[y >= y.max() / 2]
    assert abs((above[-1] - above[0]) - SINC2_FWHM_TIMES_TAU / tau) < 2 * 8.0 / 16000
    assert ProfileSpec(size_angstrom=tau).fwhm_q() == pytest.approx(SINC2_FWHM_TIMES_TAU / tau)


def test_nonuniform_grid_and_batches():
    q = torch.sort(torch.rand(700, dtype=torch.float64) * 5 + 0.5).values
    ci = torch.tensor([0, 1, 1])
    y = render_pattern(QP, IP, ci, 2, q, torch.tensor([10.0, 25.0], dtype=torch.float64))
    ref0 = 1.0 * 10 / math.pi * np.sinc(10 * (q.numpy() - 2.0) / math.pi) ** 2
    assert np.abs(y[0].numpy() - ref0).max() / ref0.max() < 1e-3
    assert y.shape == (2, 700)


def test_no_broadening_is_refused_and_sticks_render():
    q = torch.linspace(0, 6, 601, dtype=torch.float64)
    with pytest.raises(ValueError):
        render_pattern(QP, IP, CI, 1, q)
    st = render_sticks(QP, IP, CI, 1, q)[0]
    assert float(st.sum()) == pytest.approx(3.5)
    assert float(st[200]) == 1.0


def test_matmul_spectrum_equals_stick_sum_and_gradcheck():
    """The refinement's matrix-product spectrum equals the stick-by-stick sum (an empty crystal, unsorted
    sticks, n_freq not a square), and its gradient passes gradcheck."""
    from pxrdsolve.diffraction.profiles import stick_spectrum, stick_spectrum_matmul

    gen = torch.Generator().manual_seed(3)
    n, b, n_freq = 57, 4, 103
    d = torch.rand(n, dtype=torch.float64, generator=gen) * 40.0
    w = torch.rand(n, dtype=torch.float64, generator=gen)
    ci = torch.randint(0, b, (n,), generator=gen)
    ci[ci == 2] = 1  # crystal 2 has no sticks
    ref = stick_spectrum(d, w, ci, b, n_freq)
    fast = stick_spectrum_matmul(d, w, ci, b, n_freq)
    for r, f in zip(ref, fast):
        assert f.shape == (b, n_freq)
        assert torch.allclose(f, r, rtol=0, atol=1e-11 * float(r.abs().max()))
    assert float(fast[0][2].abs().max()) == 0.0
    ds, ws = d[:9].clone().requires_grad_(True), w[:9].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, y: stick_spectrum_matmul(x, y, ci[:9], b, 11), (ds, ws))


@pytest.mark.parametrize("sizes, fwhm_q, matmul", [((20.0, 50.0, math.inf), 0.03, True), ((5.0, 6.0, 5.0), 0.3, False)])
def test_render_pattern_fast_spectrum_matches_reproducible(monkeypatch, sizes, fwhm_q, matmul):
    """``batch_reproducible=False`` (the refinement's path) gives the same pattern and gradients to rounding."""
    import pxrdsolve.diffraction.profiles as profiles

    calls = []
    fast = profiles.stick_spectrum_matmul
    monkeypatch.setattr(profiles, "stick_spectrum_matmul", lambda *a: calls.append(1) or fast(*a))
    monkeypatch.setattr(profiles, "spread_pays", lambda *a: False)  # the spread path: tested below
    gen = torch.Generator().manual_seed(5)
    q = (torch.rand(300, dtype=torch.float64, generator=gen) * 5 + 1).requires_grad_(True)
    i = torch.rand(300, dtype=torch.float64, generator=gen)
    ci = torch.randint(0, 3, (300,), generator=gen)
    if not matmul:  # broad peaks (few frequencies), sticks unevenly spread: padding would not pay
        ci = torch.where(torch.arange(300) < 280, 0, ci)
    grid = torch.linspace(1.2, 5.8, 900, dtype=torch.float64)
    tau = torch.tensor(sizes, dtype=torch.float64)
    out = []
    for rep in (True, False):
        y = render_pattern(q, i, ci, 3, grid, tau, fwhm_q, 0.4, batch_reproducible=rep)
        (g,) = torch.autograd.grad((y * grid).sum(), q)
        out.append((y.detach(), g))
    (y0, g0), (y1, g1) = out
    assert bool(calls) == matmul  # the matrix-product path ran where it pays (narrow peaks), else the stick sum
    assert torch.allclose(y1, y0, rtol=0, atol=1e-12 * float(y0.abs().max()))
    assert torch.allclose(g1, g0, rtol=0, atol=1e-10 * float(g0.abs().max()))


def test_spread_spectrum_matches_stick_sum_and_gradients():
    """The B-spline spread + FFT spectrum equals the stick sum to ~1e-7 of its scale (an empty crystal,
    phases outside [0, 2π), crystals split over several FFT calls), with matching gradients, and its own
    gradient passes gradcheck."""
    import pxrdsolve.diffraction.spread as spread
    from pxrdsolve.diffraction.profiles import stick_spectrum

    gen = torch.Generator().manual_seed(11)
    n, b, n_freq = 4000, 7, 150
    d = (torch.rand(n, dtype=torch.float64, generator=gen) * 2.0 * math.pi - 0.3).requires_grad_(True)
    w = torch.rand(n, dtype=torch.float64, generator=gen)
    ci = torch.randint(0, b, (n,), generator=gen)
    ci[ci == 4] = 3
    probe = torch.rand(b, n_freq, dtype=torch.float64, generator=gen)
    ref = stick_spectrum(d, w, ci, b, n_freq)
    (g_ref,) = torch.autograd.grad(sum((r * probe).sum() for r in ref), d)
    ref = [r.detach() for r in ref]
    for max_elements in (spread.MAX_GRID_ELEMENTS, 2 * spread.spread_length(n_freq)):  # one call; 2 crystals/call
        spread_max = spread.MAX_GRID_ELEMENTS
        spread.MAX_GRID_ELEMENTS = max_elements
        try:
            fast = spread.stick_spectrum_spread(d, w, ci, b, n_freq)
        finally:
            spread.MAX_GRID_ELEMENTS = spread_max
        (g_fast,) = torch.autograd.grad(sum((f * probe).sum() for f in fast), d)
        fast = [f.detach() for f in fast]
        for r, f in zip(ref, fast):
            assert f.shape == (b, n_freq)
            assert torch.allclose(f, r, rtol=0, atol=1e-6 * float(r.abs().max()))
            assert not torch.allclose(f, r, rtol=0, atol=1e-15)  # an approximation, not the same sum
        assert float(fast[0][4].abs().max()) == 0.0
        assert torch.allclose(g_fast, g_ref, rtol=0, atol=1e-4 * float(g_ref.abs().max()))  # alias: (1/31)³
    ds, ws = d[:9].detach().clone().requires_grad_(True), w[:9].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, y: spread.stick_spectrum_spread(x, y, ci[:9], b, 11), (ds, ws))


def test_render_pattern_spread_path_matches_reproducible(monkeypatch):
    """Many crystals of many narrow sticks: the refinement's path takes the spread spectrum, and its pattern
    and position gradients agree with the reproducible stick sum."""
    import pxrdsolve.diffraction.profiles as profiles

    calls = []
    fast = profiles.stick_spectrum_spread
    monkeypatch.setattr(profiles, "stick_spectrum_spread", lambda *a: calls.append(1) or fast(*a))
    gen = torch.Generator().manual_seed(7)
    q = (torch.rand(6000, dtype=torch.float64, generator=gen) * 5 + 1).requires_grad_(True)
    i = torch.rand(6000, dtype=torch.float64, generator=gen)
    ci = torch.randint(0, 4, (6000,), generator=gen)
    grid = torch.linspace(1.2, 5.8, 2000, dtype=torch.float64)
    tau = torch.tensor((30.0, 60.0, 100.0, math.inf), dtype=torch.float64)
    out = []
    for rep in (True, False):
        y = render_pattern(q, i, ci, 4, grid, tau, 0.01, 0.3, batch_reproducible=rep)
        (g,) = torch.autograd.grad((y * grid).sum(), q)
        out.append((y.detach(), g))
    (y0, g0), (y1, g1) = out
    assert calls
    assert torch.allclose(y1, y0, rtol=0, atol=1e-6 * float(y0.abs().max()))
    assert torch.allclose(g1, g0, rtol=0, atol=1e-5 * float(g0.abs().max()))
