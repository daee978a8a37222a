"""Calibration recovers known instrument parameters from a simulated standard; the CLI writes a readable file."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from pxrdsolve.instrument import Instrument
from pxrdsolve.instrument.calibrate import _Model, calibrate
from pxrdsolve.instrument.instprm import read_instprm

TRUE = replace(Instrument.lab_cu(), zero_deg=0.031, displacement_um=-35.0, u=3.0, v=-1.5, w=4.0, x=0.8, y=3.0,
               sh_l=0.012)


def _simulate(path, standard="LaB6", seed=1, lo=20.0, hi=130.0, step=0.03):
    tt = np.arange(lo, hi, step)
    rad = TRUE.radiation
    q = 4 * np.pi * np.sin(np.deg2rad(tt / 2)) / rad.wavelength_angstrom
    model = _Model(q, tt, rad, standard, TRUE, 4)
    prof = model.profile({k: getattr(TRUE, k) for k in ("zero_deg", "displacement_um", "u", "v", "w", "x", "y",
                                                        "sh_l")} | {"b_iso": 0.35})
    y = prof / prof.max() * 2e4 + 200 + 50 * np.cos(np.deg2rad(tt))
    y = np.random.default_rng(seed).poisson(y).astype(float)
    np.savetxt(path, np.column_stack([tt, y]))


def test_recovers_lab6_parameters(tmp_path):
    _simulate(tmp_path / "lab6.xy")
    r = calibrate(tmp_path / "lab6.xy", "LaB6", wavelength="CuKa12")
    got = r.instrument
    assert abs(r.chi2_reduced - 1.0) < 0.1  # Poisson noise only: the model is exact
    assert abs(got.zero_deg - TRUE.zero_deg) < 0.004
    assert abs(got.displacement_um - TRUE.displacement_um) < 10.0
    assert abs(got.sh_l - TRUE.sh_l) < 0.004
    for tt in (25.0, 60.0, 100.0, 125.0):  # the widths (U V W X Y are correlated; widths are what matters)
        for a, b in zip(got.fwhm_deg(tt), TRUE.fwhm_deg(tt)):
            assert abs(a - b) / b < 0.05
    for k in ("zero_deg", "displacement_um", "w", "x", "y", "sh_l"):  # within 4 esd
        assert abs(getattr(got, k) - getattr(TRUE, k)) < 4 * r.esd[k] + 1e-9, k


def test_cli_writes_instprm_that_reads_back(tmp_path, run_cli):
    _simulate(tmp_path / "si.xy", standard="Si", lo=25.0, hi=90.0, step=0.04)
    out = tmp_path / "inst.instprm"
    res = run_cli("calibrate", tmp_path / "si.xy", "--standard", "si", "-w", "CuKa12", "-o", out, "--json", "--quiet")
    assert res.exit_code == 0, res.output
    back = read_instprm(out)
    assert abs(back.zero_deg - TRUE.zero_deg) < 0.01
    assert back.radiation.wavelengths_angstrom == TRUE.radiation.wavelengths_angstrom


def test_cli_bad_input(tmp_path, run_cli):
    res = run_cli("calibrate", tmp_path / "missing.xy", "--standard", "LaB6", "-o", tmp_path / "a.instprm")
    assert res.exit_code == 2 and "no such file" in res.output
    (tmp_path / "a.xy").write_text("10 1\n11 2\n")
    res = run_cli("calibrate", tmp_path / "a.xy", "--standard", "NaCl", "-o", tmp_path / "a.instprm")
    assert res.exit_code == 2 and "unknown standard" in res.output
