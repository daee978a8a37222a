from __future__ import annotations

import math

import numpy as np
import pytest

from pxrdsolve.diffraction.grids import (
    d_from_q,
    dq_per_two_theta_deg,
    parse_grid,
    pxrdnet_eval_q,
    pxrdnet_input_q,
    pxrdnet_q_max,
    q_from_two_theta,
    two_theta_from_q,
)
from pxrdsolve.diffraction.radiation import parse_radiation
from pxrdsolve.errors import InputError


def test_named_and_numeric_wavelengths():
    assert parse_radiation("CuKa").wavelength_angstrom == 1.54184
    assert parse_radiation("Cu Kα1").wavelength_angstrom == 1.54056
    assert parse_radiation("moka").wavelength_angstrom == 0.71073
    assert parse_radiation("AgKa").wavelength_angstrom == 0.560885
    assert parse_radiation("CoKa").wavelength_angstrom == 1.79026
    assert parse_radiation("1.2").wavelength_angstrom == 1.2
    d = parse_radiation("CuKa12")
    assert d.wavelengths_angstrom == (1.54056, 1.54439) and d.weights == (1.0, 0.5)
    for bad in ("XxKa", "-1", "abc"):
        with pytest.raises(InputError):
            parse_radiation(bad)


def test_axis_conversions_round_trip():
    tt = np.array([10.0, 45.0, 90.0, 150.0])
    q = q_from_two_theta(tt, 1.54056)
    assert np.allclose(two_theta_from_q(q, 1.54056), tt)
    assert q_from_two_theta(180.0, 1.54184) == pytest.approx(4 * math.pi / 1.54184)
    assert d_from_q(2 * math.pi) == pytest.approx(1.0)
    # Bragg's law: λ = 2 d sin θ
    d = d_from_q(q)
    assert np.allclose(2 * d * np.sin(np.radians(tt / 2)), 1.54056)


def test_dq_per_two_theta_is_the_derivative_of_q():
    """The 2θ Jacobian equals a central finite difference of Q(2θ), for numpy and torch inputs."""
    import torch

    lam = 1.5406
    tt = np.array([5.0, 30.0, 60.0, 90.0, 150.0])
    h = 1e-5
    fd = (q_from_two_theta(tt + h, lam) - q_from_two_theta(tt - h, lam)) / (2 * h)
    q = q_from_two_theta(tt, lam)
    assert np.allclose(dq_per_two_theta_deg(q, lam), fd, rtol=1e-7)
    assert np.allclose(dq_per_two_theta_deg(torch.as_tensor(q), lam).numpy(), fd, rtol=1e-7)
    assert dq_per_two_theta_deg(4 * math.pi / lam, lam) >= 0.0  # back-scattering: clamped, not NaN


def test_grids():
    assert pxrdnet_q_max() == pytest.approx(8.1502, abs=1e-4)
    assert pxrdnet_input_q().size == 512 and pxrdnet_eval_q().size == 8192
    g = parse_grid("q:0.5:8:100")
    assert g.axis().size == 100 and g.axis()[0] == 0.5 and g.axis()[-1] == 8.0
    t = parse_grid("2theta:10:90:0.02")
    assert t.axis().size == 4001 and t.axis()[-1] == pytest.approx(90.0)
    for bad in ("q:1:0:10", "2theta:10:190:0.1", "foo", "q:1:2"):
        with pytest.raises(InputError):
            parse_grid(bad)
