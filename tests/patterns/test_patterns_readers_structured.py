"""pdCIF, GSAS and XRDML readers on small committed files and on edited variants of them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pxrdsolve.errors import InputError
from pxrdsolve.patterns import read_pattern
from pxrdsolve.patterns.readers.cif import parse_cif
from pxrdsolve.patterns.readers.common import parse_esd_number


@pytest.mark.parametrize(
    ("text", "value", "esd"),
    [
        ("327(18)", 327.0, 18.0),
        ("1.234(5)", 1.234, 0.005),
        ("4.100(1)", 4.1, 0.001),
        ("1.5e3(2)", 1500.0, 200.0),
        ("-0.25", -0.25, None),
        ("12", 12.0, None),
    ],
)
def test_parse_esd_number(text, value, esd):
    v, e = parse_esd_number(text)
    assert v == pytest.approx(value)
    assert (e is None) if esd is None else e == pytest.approx(esd)


def test_parse_esd_number_rejects_text():
    assert math.isnan(parse_esd_number("?")[0]) and math.isnan(parse_esd_number(".")[0])
    with pytest.raises(ValueError):
        parse_esd_number("abc")


def test_cif_tokenizer_handles_text_fields_quotes_and_next_line_values(tmp_path):
    text = """data_x
_a 'quoted value'   # comment
_b
;
multi line
;
_c
1.5418
loop_ _t1 _t2
 1 "two words"
 2 it's
"""
    (block,) = parse_cif(text, tmp_path / "x.cif")
    assert block.get("_a") == "quoted value" and block.get("_b") == "multi line" and block.get("_c") == "1.5418"
    loop = block.find_loop("_t2")
    assert loop.column("_t2")[0] == ["two words", "it's"]


def test_pdcif_explicit_axis_with_esd(data_dir):
    p = read_pattern(data_dir / "explicit_pdcif.cif")
    assert p.format == "pdcif" and p.source_axis == "2theta"
    assert p.metadata["intensity_tag"] == "_pd_proc_intensity_net"
    assert p.metadata["x_tag"] == "_pd_proc_2theta_corrected"
    assert p.wavelength_angstrom == pytest.approx(1.5418)
    assert p.metadata["radiation_type"] == "CuK\\a"
    assert p.n_points == 501 and p.two_theta_deg[0] == pytest.approx(10.0)
    assert p.esd is not None and np.all(p.esd > 0)
    assert p.esd[0] == pytest.approx(round(math.sqrt(p.intensity[0] + 140)), abs=1.0)


def test_pdcif_implicit_axis_and_block_wavelength(data_dir):
    p = read_pattern(data_dir / "implicit_pdcif.cif")
    assert p.metadata["intensity_tag"] == "_pd_meas_counts_total"
    np.testing.assert_allclose(p.two_theta_deg, 5.0 + 0.05 * np.arange(500), atol=1e-9)
    # the profile block states none: taken from data_test_overall, never from the simulated block
    assert p.wavelength_angstrom == pytest.approx(0.70930)
    assert "test_overall" in p.metadata["wavelength_source"]
    np.testing.assert_allclose(p.esd, 1 / np.sqrt(1 / np.maximum(p.intensity, 1)), rtol=2e-3)


def test_pdcif_real_excerpt(data_dir):
    p = read_pattern(data_dir / "real_excerpt_br1340.cif")
    assert p.n_points == 50 and p.wavelength_angstrom == pytest.approx(1.5418)
    assert p.intensity[0] == 153 and p.two_theta_deg[-1] == pytest.approx(10.98)


def test_pdcif_errors(tmp_path, data_dir):
    bad = tmp_path / "bad.cif"
    lines = (data_dir / "explicit_pdcif.cif").read_text().splitlines()
    assert lines[16].startswith("7 ")
    lines[16] = lines[16].replace("(", "x(", 1)  # e.g. "312x(21)"
    bad.write_text("\n".join(lines))
    with pytest.raises(
        InputError, match=r"bad\.cif: line 17: non-numeric value '\d+x\(\d+\)' in _pd_proc_intensity_net"
    ):
        read_pattern(bad)
    none = tmp_path / "structure.cif"
    none.write_text("data_x\n_cell_length_a 4.1\nloop_\n_atom_site_label\nNa\n")
    with pytest.raises(InputError, match="no powder profile"):
        read_pattern(none)
    nodata = tmp_path / "nodata.cif"
    nodata.write_text("just text\n" * 5)
    with pytest.raises(InputError, match="no data_ block"):
        read_pattern(nodata)


def test_pdcif_radiation_loop_doublet(tmp_path, data_dir):
    text = (
        (data_dir / "explicit_pdcif.cif")
        .read_text()
        .replace(
            "_diffrn_radiation_wavelength\n1.5418",
            "loop_\n_diffrn_radiation_wavelength_id\n_diffrn_radiation_wavelength\n_diffrn_radiation_wavelength_wt\n"
            "1 1.540562 1.0\n2 1.544390 0.5",
        )
    )
    path = tmp_path / "doublet.cif"
    path.write_text(text)
    p = read_pattern(path)
    assert p.radiation.is_doublet and p.radiation.weights == (1.0, 0.5)
    assert p.wavelength_angstrom == pytest.approx(1.540562)


def test_gsas_const_std(data_dir):
    p = read_pattern(data_dir / "const_std.gsa")
    assert p.format == "gsas" and p.n_points == 601
    np.testing.assert_allclose(p.two_theta_deg, 10.0 + 0.05 * np.arange(601), atol=1e-9)
    assert p.wavelength_angstrom == pytest.approx(1.54056)  # stated in the title line
    first = (data_dir / "const_std.gsa").read_text().splitlines()[3]
    assert p.intensity[0] == float(first[2:8]) and p.intensity[9] == float(first[74:80])


def test_gsas_const_esd_needs_wavelength(data_dir):
    with pytest.raises(InputError, match=r"const_esd\.gsa: the file gives 2θ but no wavelength"):
        read_pattern(data_dir / "const_esd.gsa")
    p = read_pattern(data_dir / "const_esd.gsa", wavelength="CuKa1")
    assert p.n_points == 400 and p.two_theta_deg[0] == pytest.approx(15.0)
    np.testing.assert_allclose(p.esd, np.sqrt(p.intensity), atol=0.006)


def test_gsas_fxye_centidegrees_and_banks(data_dir):
    p = read_pattern(data_dir / "fxye_bank.fxye")
    assert p.n_points == 500 and p.two_theta_deg[0] == pytest.approx(10.0)
    assert p.two_theta_deg[-1] == pytest.approx(10.0 + 0.04 * 499)
    assert p.esd is not None and any("2 banks" in w for w in p.warnings)


def test_gsas_ralf_alt_and_time_of_flight(tmp_path):
    x = 10.0 + 0.05 * np.arange(80)
    y = 100 + 50 * np.exp(-(((x - 12) / 0.2) ** 2))
    recs = [f"{xi * 3200:8.0f}{yi * 1000:7.0f}{10 * 1000 / 1000:5.0f}" for xi, yi in zip(x, y, strict=True)]
    lines = ["RALF test wavelength 1.5406", "BANK 1 80 20 RALF 3200 160 0 0 ALT"]
    lines += ["".join(f"{r:<20s}" for r in recs[k : k + 4]) for k in range(0, 80, 4)]
    path = tmp_path / "ralf.gsa"
    path.write_text("\n".join(lines) + "\n")
    p = read_pattern(path)
    np.testing.assert_allclose(p.two_theta_deg, x, atol=1e-3)
    np.testing.assert_allclose(p.intensity, np.round(y * 1000) / 1000, atol=1e-3)
    tof = tmp_path / "tof.gsa"
    tof.write_text("title\nTIME_MAP 1 10 2 TIME_MAP 1000\nBANK 1 80 20 TIME_MAP 1 0 0 0 STD\n")
    with pytest.raises(InputError, match="time-of-flight"):
        read_pattern(tof)


def test_xrdml_scan_and_doublet(data_dir):
    p = read_pattern(data_dir / "scan.xrdml")
    assert p.format == "xrdml" and p.n_points == 401
    np.testing.assert_allclose(p.two_theta_deg, np.linspace(10, 50, 401))
    assert p.radiation.is_doublet and p.radiation.weights == (1.0, 0.5)
    assert p.radiation.wavelengths_angstrom == pytest.approx((1.540598, 1.544426))
    assert p.metadata["wavelength_source"] == "usedWavelength"


def test_xrdml_variants(tmp_path, data_dir):
    text = (data_dir / "scan.xrdml").read_text()
    y = text.split('<intensities unit="counts">')[1].split("<")[0].split()
    listed = " ".join(f"{v:.3f}" for v in np.linspace(10, 50, len(y)) ** 1.0001)
    variant = (
        text.replace('intended="K-Alpha"', 'intended="K-Alpha 1"')
        .replace(
            "<startPosition>10.0000</startPosition>\n          <endPosition>50.0000</endPosition>",
            f"<listPositions>{listed}</listPositions>",
            1,
        )
        .replace("intensities", "counts")
    )
    path = tmp_path / "list.xrdml"
    path.write_text(variant)
    p = read_pattern(path)
    assert not p.radiation.is_doublet and p.wavelength_angstrom == pytest.approx(1.540598)
    np.testing.assert_allclose(p.two_theta_deg, [float(v) for v in listed.split()])
    assert p.metadata["y_element"] == "counts"
    for name, content, match in [
        ("broken.xrdml", text[:500], "not well-formed XML"),
        ("omega.xrdml", text.replace('axis="2Theta"', 'axis="Chi"'), "no 2Theta positions"),
        ("entity.xrdml", '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', "DOCTYPE"),
    ]:
        (tmp_path / name).write_text(content)
        with pytest.raises(InputError, match=match):
            read_pattern(tmp_path / name)
