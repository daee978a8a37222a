"""Instrument presets, JSON and GSAS-II .instprm round trips; bad files are one-line InputErrors."""

from __future__ import annotations

import math

import pytest

from pxrdsolve.errors import InputError
from pxrdsolve.instrument import Instrument, read_instrument_json, write_instrument_json
from pxrdsolve.instrument.instprm import format_instprm, parse_instprm, read_instprm, write_instprm

# GSAS-II's own default sets (defaultIparms.py): ';'-joined items, Lam1/Lam2 doublet, single Lam
GSAS_LAB = """#GSAS-II instrument parameter file for lab CuKa data
Type:PXC
Lam1:1.5405;Lam2:1.5443;Zero:0.0;Polariz.:0.7;Azimuth:0.0;I(L2)/I(L1):0.5
U:2.0;V:-2.0;W:5.0;X:0.0;Y:0.0;SH/L:0.002
"""
GSAS_11BM = """#GSAS-II instrument parameter file APS 11BM @ 30keV
Type:PXC
Lam:0.413263;Polariz.:0.99;Azimuth:0.0;Zero:0.0
U:1.163;V:-0.126;W:0.063;X:0.0;Y:0.0;SH/L:0.002
"""
MULTIBANK = """#GSAS-II instrument parameter file; do not add/delete items!
#Bank 1: GSAS-II instrument parameter file; do not add/delete items!
  Type:PXC
  Bank:1.0
  Lam:0.7
  Zero:0.01
  U:1.0
  V:0.0
  W:0.5
#Bank 2: GSAS-II instrument parameter file; do not add/delete items!
  Type:PXC
  Bank:2.0
  Lam:0.7
  Zero:-0.02
  U:3.0
  V:0.0
  W:1.5
"""


def test_gsas_defaults_parse():
    lab = parse_instprm(GSAS_LAB)
    assert lab.radiation.wavelengths_angstrom == (1.5405, 1.5443) and lab.radiation.weights == (1.0, 0.5)
    assert (lab.u, lab.v, lab.w, lab.sh_l, lab.polarisation) == (2.0, -2.0, 5.0, 0.002, 0.7)
    syn = parse_instprm(GSAS_11BM)
    assert syn.radiation.wavelengths_angstrom == (0.413263,) and syn.polarisation == 0.99


def test_multibank_selects_bank():
    assert parse_instprm(MULTIBANK).zero_deg == 0.01
    b2 = parse_instprm(MULTIBANK, bank=2)
    assert (b2.zero_deg, b2.u, b2.w) == (-0.02, 3.0, 1.5)
    with pytest.raises(InputError, match="bank 3 not found"):
        parse_instprm(MULTIBANK, bank=3)


@pytest.mark.parametrize("inst", [Instrument.lab_cu().with_(zero_deg=0.0123, displacement_um=-17.5, x=0.7),
                                  Instrument.synchrotron(0.45), Instrument.lab_mo(), Instrument.none()])
def test_round_trips(inst, tmp_path):
    write_instprm(inst, tmp_path / "a.instprm")
    back = read_instprm(tmp_path / "a.instprm")
    for k in ("zero_deg", "u", "v", "w", "x", "y", "z", "sh_l", "displacement_um", "goniometer_radius_mm",
              "polarisation"):
        assert getattr(back, k) == getattr(inst, k), k
    assert back.radiation.wavelengths_angstrom == inst.radiation.wavelengths_angstrom
    assert back.radiation.weights == inst.radiation.weights
    write_instrument_json(inst, tmp_path / "a.json")
    assert read_instrument_json(tmp_path / "a.json") == inst


@pytest.mark.parametrize("text,problem", [
    ("Type:PXC\nLam:1.54\n", "GSAS-II"),
    ("#GSAS-II\nType:PNT\nLam:1.54\n", "Type PNT"),
    ("#GSAS-II\nType:PXC\nU:2\n", "no wavelength"),
    ("#GSAS-II\nType:PXC\nLam:abc\n", "Lam must be a number"),
    ("#GSAS-II\nType:PXC\nLam:1.5\nthis line has no colon\n", "expected name:value"),
    ("#GSAS-II\nLam:1.5\n", "no 'Type'"),
    ("#GSAS-II\nType:PXC\nLam1:1.54\n", "Lam1 without Lam2"),
])
def test_bad_files(text, problem, tmp_path):
    p = tmp_path / "bad.instprm"
    p.write_text(text)
    with pytest.raises(InputError, match=problem) as err:
        read_instprm(p)
    assert str(p) in str(err.value) and "\n" not in str(err.value)


def test_bad_json(tmp_path):
    p = tmp_path / "i.json"
    p.write_text('{"format": "pxrdsolve-instrument", "format_version": 99}')
    with pytest.raises(InputError, match="format_version"):
        read_instrument_json(p)
    p.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        read_instrument_json(p)


def test_fwhm_follows_caglioti():
    inst = Instrument(u=4.0, v=-2.0, w=3.0, x=1.0, y=2.0)
    th = math.radians(20.0)
    g, lz = inst.fwhm_deg(40.0)
    assert g == pytest.approx(math.sqrt(8 * math.log(2) * (4 * math.tan(th) ** 2 - 2 * math.tan(th) + 3)) / 100)
    assert lz == pytest.approx((1 / math.cos(th) + 2 * math.tan(th)) / 100)
    assert "Lam1:" in format_instprm(inst)
