"""Column-text reader (.xy, .xye, .csv, .dat, .txt): headers, hints, axes, wavelengths, encodings."""

from __future__ import annotations

import numpy as np
import pytest

from pxrdsolve.diffraction.grids import q_from_two_theta
from pxrdsolve.errors import InputError
from pxrdsolve.patterns import read_pattern
from pxrdsolve.patterns.readers.text import classify_axis_name, find_radiation


def test_xy_with_header_wavelength(data_dir):
    p = read_pattern(data_dir / "cu_lab_header.xy")
    assert p.format == "xy" and p.source_axis == "2theta"
    assert p.wavelength_angstrom == pytest.approx(1.54056)
    assert p.metadata["wavelength_source"] == "header"
    assert p.n_points == 1101 and p.esd is None
    assert p.two_theta_deg[0] == pytest.approx(10.0) and p.two_theta_deg[-1] == pytest.approx(65.0)
    np.testing.assert_allclose(p.q_inv_angstrom, q_from_two_theta(p.two_theta_deg, 1.54056))
    assert np.all(np.diff(p.q_inv_angstrom) > 0)
    assert p.warnings == ()


def test_xye_has_esd_and_mo_wavelength(data_dir):
    p = read_pattern(data_dir / "mo_esd.xye")
    assert p.format == "xye" and p.esd is not None and p.esd.shape == p.intensity.shape
    np.testing.assert_allclose(p.esd, np.sqrt(np.maximum(p.intensity, 1)), atol=0.01)
    assert p.wavelength_angstrom == pytest.approx(0.70930)
    assert p.radiation.name == "MoKa1"


def test_csv_with_header_row_in_q(data_dir):
    p = read_pattern(data_dir / "q_header.csv")
    assert p.format == "csv" and p.source_axis == "q"
    assert p.wavelength_angstrom is None and p.two_theta_deg is None
    assert p.q_inv_angstrom[0] == pytest.approx(0.6) and p.q_inv_angstrom[-1] == pytest.approx(6.0)


def test_d_spacing_is_converted_and_sorted(data_dir):
    p = read_pattern(data_dir / "d_spacing.dat")
    assert p.source_axis == "d"
    assert np.all(np.diff(p.q_inv_angstrom) > 0)
    assert p.q_inv_angstrom[0] == pytest.approx(1.05, abs=1e-3) and p.q_inv_angstrom[-1] == pytest.approx(6.0, abs=1e-3)
    np.testing.assert_allclose(p.source_axis_values(), 2 * np.pi / p.q_inv_angstrom)


def test_no_hint_needs_wavelength_never_assumes_cu(data_dir):
    with pytest.raises(InputError, match=r"no_hint\.txt.*no wavelength.*--wavelength"):
        read_pattern(data_dir / "no_hint.txt")
    p = read_pattern(data_dir / "no_hint.txt", wavelength="CuKa1")
    assert p.source_axis == "2theta" and p.metadata["axis_guessed"]
    assert any("taken as 2θ" in w for w in p.warnings)
    assert p.metadata["wavelength_source"] == "option"
    q_mo = read_pattern(data_dir / "no_hint.txt", wavelength=0.7093).q_inv_angstrom
    assert q_mo[-1] == pytest.approx(p.q_inv_angstrom[-1] * 1.54056 / 0.7093, rel=1e-9)


def test_ambiguous_small_x_needs_axis(tmp_path, synth):
    x = np.linspace(0.5, 6.0, 300)
    path = synth.write_xy(tmp_path / "small.xy", x, 10 + np.exp(-(((x - 2) / 0.05) ** 2)))
    with pytest.raises(InputError, match="--axis"):
        read_pattern(path)
    assert read_pattern(path, axis="q").source_axis == "q"
    d = read_pattern(path, axis="d")
    assert d.q_inv_angstrom[-1] == pytest.approx(2 * np.pi / 0.5)


def test_axis_option_overrides_header_hint_with_warning(data_dir):
    p = read_pattern(data_dir / "q_header.csv", axis="d")
    assert p.source_axis == "d"
    assert any("header suggests Q" in w for w in p.warnings)


def test_wavelength_option_overrides_file_with_warning(data_dir):
    p = read_pattern(data_dir / "cu_lab_header.xy", wavelength="MoKa")
    assert p.wavelength_angstrom == pytest.approx(0.71073)
    assert any("overrides" in w for w in p.warnings)


def test_comment_styles_separators_and_esd_header(tmp_path, synth):
    body = synth.two_column_text(120)
    lines = ["! exported by some program", "; lambda = 1.5406", "2theta\tcounts\tsigma"]
    lines += [ln.replace(" ", "\t") + "\t3.0" for ln in body]
    path = tmp_path / "tabs.dat"
    path.write_text("\n".join(lines) + "\n")
    p = read_pattern(path)
    assert p.wavelength_angstrom == pytest.approx(1.5406)
    assert p.esd is not None and np.all(p.esd == 3.0)
    assert p.metadata["column_names"][:2] == ["2theta", "counts"]


def test_extra_columns_ignored_without_esd_name(tmp_path, synth):
    lines = ["# wavelength 1.5406"] + [ln + " 7 8" for ln in synth.two_column_text(80)]
    path = tmp_path / "four.xy"
    path.write_text("\n".join(lines))
    p = read_pattern(path)
    assert p.esd is None and p.metadata["ignored_columns"] == 2


def test_latin1_and_utf16_files(tmp_path, synth):
    text = "# Wellenlänge λ? no: wavelength 1.5406 Å, Messung bei 25 °C\n" + "\n".join(synth.two_column_text(100))
    latin = tmp_path / "latin.xy"
    latin.write_bytes(text.replace("λ", "l").encode("latin-1"))
    p = read_pattern(latin)
    assert p.wavelength_angstrom == pytest.approx(1.5406) and p.metadata["encoding"] == "latin-1"
    utf16 = tmp_path / "utf16.xy"
    utf16.write_bytes(text.encode("utf-16"))
    assert read_pattern(utf16).n_points == 100


@pytest.mark.parametrize(
    ("name", "axis"),
    [
        ("2Theta(deg)", "2theta"),
        ("2θ", "2theta"),
        ("tth", "2theta"),
        ("Q_invA", "q"),
        ("Q (1/A)", "q"),
        ("d(Å)", "d"),
        ("d-spacing", "d"),
        ("degrees", None),
        ("intensity", None),
        ("data", None),
    ],
)
def test_classify_axis_name(name, axis):
    assert classify_axis_name(name) == axis


@pytest.mark.parametrize(
    ("lines", "name", "lam"),
    [
        (["wavelength_A: 1.54056   radiation: CuKa1"], "CuKa1", 1.54056),
        (["radiation: Cu Ka1/Ka2 (1.54056/1.54439)", "wavelength_A: 1.54056"], "CuKa12", 1.54056),
        (["Wavelength (Å) = 0.7093"], None, 0.7093),
        (["source: Mo K-alpha"], "MoKa", 0.71073),
        (["wavelength_A: NA   radiation: not stated"], None, None),
    ],
)
def test_find_radiation_in_headers(lines, name, lam):
    rad, _ = find_radiation(lines)
    if lam is None:
        assert rad is None
        return
    assert rad.wavelength_angstrom == pytest.approx(lam)
    if name is not None:
        assert rad.name == name
