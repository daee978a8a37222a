"""Renderer limits: sinc² (render_pattern), analytic TCH, brute-force convolution, areas, shifts, gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.signal import fftconvolve

from pxrdsolve.diffraction.profiles import render_pattern
from pxrdsolve.instrument import Instrument, ProfileTensors, render_profile
from pxrdsolve.instrument.kernels import fcj_nodes, tch_mix

LAM = 1.5406
F64 = torch.float64


def _sticks(qs, ints):
    return (torch.tensor(qs, dtype=F64), torch.tensor(ints, dtype=F64), torch.zeros(len(qs), dtype=torch.long))


def _tt(q, lam=LAM):
    return torch.rad2deg(2 * torch.asin(q * lam / (4 * math.pi)))


@pytest.mark.parametrize("grid", ["uniform_q", "uniform_2theta"])
def test_zero_instrument_q_axis_is_pxrdnet_sinc2(grid):
    tau = 30.0
    qp, ip, ci = _sticks([1.0, 2.0, 3.3, 5.0], [1.0, 2.0, 3.0, 1.0])
    if grid == "uniform_q":
        q = torch.linspace(0.3, 6.5, 4000, dtype=F64)
    else:
        q = 4 * math.pi * torch.sin(torch.deg2rad(torch.linspace(4.0, 110.0, 5000, dtype=F64) / 2)) / LAM
    prm = ProfileTensors.from_instrument(Instrument.none(LAM), 1)
    y = render_profile(q, qp, ip, ci, 1, torch.tensor([tau], dtype=F64), prm, LAM, axis="q", window_fwhm=40)[0]
    exact = sum(ip[i] * tau / math.pi * torch.sinc(tau * (q - qp[i]) / math.pi) ** 2 for i in range(4))
    ref = render_pattern(qp, ip, ci, 1, q, size_angstrom=tau)[0]
    assert float((y - exact).abs().max() / exact.max()) < 1e-4
    assert float((y - ref).abs().max() / ref.max()) < 2e-4


def _tch(delta, fw_g, fw_l):
    g, e = tch_mix(torch.tensor(fw_g, dtype=F64), torch.tensor(fw_l, dtype=F64))
    g, e = float(g), float(e)
    lor = (g / 2 / math.pi) / (delta**2 + (g / 2) ** 2)
    sig = g / (2 * math.sqrt(2 * math.log(2)))
    gau = torch.exp(-0.5 * (delta / sig) ** 2) / (sig * math.sqrt(2 * math.pi))
    return e * lor + (1 - e) * gau


@pytest.mark.parametrize("method", ["lattice", "exact"])
def test_infinite_size_is_analytic_tch_pseudo_voigt(method):
    inst = Instrument(radiation=Instrument.none(LAM).radiation, u=3.0, v=-1.0, w=4.0, x=1.0, y=4.0)
    tt = torch.arange(10.0, 120.0, 0.01, dtype=F64)
    q = 4 * math.pi * torch.sin(torch.deg2rad(tt / 2)) / LAM
    peaks_tt = [25.0, 61.3, 98.7]
    qp, ip, ci = _sticks([float(4 * math.pi * math.sin(math.radians(t / 2)) / LAM) for t in peaks_tt], [1.0, 2.0, 1.5])
    y = render_profile(q, qp, ip, ci, 1, math.inf, ProfileTensors.from_instrument(inst, 1), LAM,
                       window_fwhm=40, method=method)[0]
    expect = torch.zeros_like(tt)
    for t, a in zip(peaks_tt, [1.0, 2.0, 1.5]):
        fg, fl = inst.fwhm_deg(t)
        expect = expect + a * _tch(tt - t, fg, fl)
    assert float((y - expect).abs().max() / expect.max()) < 1e-4


def _brute(delta_deg, tau_deg, fw_g, fw_l, shifts=None, weights=None):
    """sinc²(τ) ⊗ TCH pV (⊗ FCJ copies) by numerical convolution on a fine grid (numpy)."""
    x = np.linspace(-40.0, 40.0, 400001)  # odd length: "same" convolution stays centred
    size = tau_deg / np.pi * np.sinc(tau_deg * x / np.pi) ** 2
    pv = _tch(torch.tensor(x), fw_g, fw_l).numpy()
    prof = fftconvolve(size, pv, mode="same") * 2e-4
    if shifts is None:
        return np.interp(delta_deg, x, prof)
    return sum(w * np.interp(delta_deg - s, x, prof) for s, w in zip(shifts, weights))


@pytest.mark.parametrize("tau,sh_l", [(40.0, 0.0), (300.0, 0.0), (60.0, 0.02)])
def test_matches_brute_force_convolution(tau, sh_l):
    inst = Instrument(radiation=Instrument.none(LAM).radiation, u=2.0, v=-1.0, w=3.0, x=0.5, y=2.0, sh_l=sh_l)
    t0 = 30.0
    tt = torch.arange(20.0, 40.0, 0.005, dtype=F64)
    q = 4 * math.pi * torch.sin(torch.deg2rad(tt / 2)) / LAM
    qp, ip, ci = _sticks([4 * math.pi * math.sin(math.radians(t0 / 2)) / LAM], [1.0])
    y = render_profile(q, qp, ip, ci, 1, tau, ProfileTensors.from_instrument(inst, 1), LAM, window_fwhm=40)[0]
    tau_deg = tau * (2 * math.pi / LAM) * math.cos(math.radians(t0 / 2)) * math.pi / 180
    fg, fl = inst.fwhm_deg(t0)
    shifts = weights = None
    if sh_l > 0:
        s, w = fcj_nodes(torch.tensor([t0], dtype=F64), torch.tensor([sh_l], dtype=F64), 16)
        shifts, weights = s[0].numpy(), w[0].numpy()
    ref = _brute((tt - t0).numpy(), tau_deg, fg, fl, shifts, weights)
    assert np.abs(y.numpy() - ref).max() / ref.max() < 2e-3


def test_fcj_quadrature_converges():
    """FCJ copies: more nodes change the profile less and less; the centroid moves to lower angle below 90°."""
    t = torch.tensor([8.0, 30.0, 150.0], dtype=F64)
    s8, w8 = fcj_nodes(t, torch.full_like(t, 0.02), 8)
    s16, w16 = fcj_nodes(t, torch.full_like(t, 0.02), 16)
    c8, c16 = (s8 * w8).sum(-1), (s16 * w16).sum(-1)
    assert torch.allclose(c8, c16, rtol=1e-2)
    assert c16[0] < c16[1] < 0 < c16[2]
    assert torch.allclose(w16.sum(-1), torch.ones(3, dtype=F64))


@pytest.mark.parametrize("axis", ["two_theta", "q"])
def test_area_is_the_stick_intensity(axis):
    inst = Instrument.lab_cu()
    tt = torch.arange(5.0, 150.0, 0.01, dtype=F64)
    q = 4 * math.pi * torch.sin(torch.deg2rad(tt / 2)) / LAM
    qp, ip, ci = _sticks([3.0], [2.5])
    for tau in (20.0, 200.0, math.inf):
        y = render_profile(q, qp, ip, ci, 1, tau, ProfileTensors.from_instrument(inst, 1), LAM, axis=axis)[0]
        area = torch.trapezoid(y, tt if axis == "two_theta" else q)
        # tails beyond the 5–150° range hold a little area (1/Δ² tails: about A·(1/Δ_lo + 1/Δ_hi))
        assert abs(float(area) / 2.5 - 1) < 6e-3


def test_jacobian_between_axes():
    """y_q · dQ/d2θ ≈ y_2θ (density per Å⁻¹ vs per degree)."""
    inst = Instrument.lab_cu()
    tt = torch.arange(20.0, 100.0, 0.01, dtype=F64)
    q = 4 * math.pi * torch.sin(torch.deg2rad(tt / 2)) / LAM
    qp, ip, ci = _sticks([2.5, 4.0, 6.0], [1.0, 1.0, 1.0])
    prm = ProfileTensors.from_instrument(inst, 1)
    y_t = render_profile(q, qp, ip, ci, 1, 100.0, prm, LAM, axis="two_theta")[0]
    y_q = render_profile(q, qp, ip, ci, 1, 100.0, prm, LAM, axis="q")[0]
    dq_dtt = (2 * math.pi / LAM) * torch.cos(torch.deg2rad(tt / 2)) * math.pi / 180
    assert float((y_q * dq_dtt - y_t).abs().max() / y_t.max()) < 2e-2


def test_zero_shift_and_displacement_move_peaks():
    tt = torch.arange(20.0, 140.0, 0.002, dtype=F64)
    q = 4 * math.pi * torch.sin(torch.deg2rad(tt / 2)) / LAM
    peaks = [30.0, 120.0]
    qp, ip, ci = _sticks([4 * math.pi * math.sin(math.radians(t / 2)) / LAM for t in peaks], [1.0, 1.0])
    base = Instrument(radiation=Instrument.none(LAM).radiation, w=4.0)
    shifted = base.with_(zero_deg=0.05, displacement_um=100.0, goniometer_radius_mm=200.0)
    y = render_profile(q, qp, ip, ci, 1, math.inf, ProfileTensors.from_instrument(shifted, 1), LAM)[0]
    for t in peaks:
        sel = (tt > t - 1) & (tt < t + 1)
        centroid = float((y[sel] * tt[sel]).sum() / y[sel].sum())
        expect = t + 0.05 - (0.36 / math.pi) * (100.0 / 200.0) * math.cos(math.radians(t / 2))
        assert abs(centroid - expect) < 2e-3


def test_gradcheck_every_parameter():
    """Uniform Q grid: axis q uses the grid-aligned lattices, axis 2θ the interpolated ones.  Peaks sit
    0.3 steps from a grid point (the aligned lattice's nearest grid point must not flip under ε)."""
    q = torch.linspace(1.5, 4.5, 300, dtype=F64)
    step = float(q[1] - q[0])
    qp = (q[[70, 140, 210]] + 0.3 * step).detach().requires_grad_(True)
    ip = torch.tensor([1.0, 0.5, 0.8], dtype=F64, requires_grad=True)
    ci = torch.tensor([0, 0, 1])
    tau = torch.tensor([60.0, 150.0], dtype=F64, requires_grad=True)
    inst = Instrument(radiation=Instrument.none(LAM).radiation, zero_deg=0.01, displacement_um=10.0, u=8.0, v=-2.0,
                      w=30.0, x=2.0, y=5.0, z=1.0, sh_l=0.03)
    names = ("zero_deg", "displacement_um", "u", "v", "w", "x", "y", "z", "sh_l", "microstrain")
    base = ProfileTensors.from_instrument(inst, 2, microstrain=500.0, microstrain_mix=0.5)
    leaves = [getattr(base, n).detach().clone().requires_grad_(True) for n in names]

    for axis in ("two_theta", "q"):
        def f(qp_, ip_, tau_, *vals, axis=axis):
            prm = base.with_(**dict(zip(names, vals)))
            return render_profile(q, qp_, ip_, ci, 2, tau_, prm, LAM, axis=axis)

        assert torch.autograd.gradcheck(f, (qp, ip, tau, *leaves), eps=1e-6, atol=1e-6, rtol=1e-4, fast_mode=True)
