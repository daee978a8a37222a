"""Bad inputs end in a one-line InputError naming the file (and line); valid oddities are repaired."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from pxrdsolve.errors import InputError
from pxrdsolve.patterns import read_pattern

HEADER = "# wavelength = 1.5406\n# 2theta counts\n"


def _lines(synth, n=200):
    return synth.two_column_text(n)


def _write(tmp_path, name, text):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _bad(path, match, **kw):
    with pytest.raises(InputError) as info:
        read_pattern(path, **kw)
    msg = str(info.value)
    assert "\n" not in msg, msg
    assert path.name in msg, msg
    assert re.search(match, msg), msg
    return msg


def test_empty_and_blank_files(tmp_path):
    _bad(_write(tmp_path, "empty.xy", ""), "empty file")
    _bad(_write(tmp_path, "blank.xy", "\n   \n\t\n"), "empty file")


def test_only_comments(tmp_path):
    _bad(_write(tmp_path, "comments.xy", "# a\n# b\n! c\n"), "no numeric data")


def test_one_column(tmp_path):
    _bad(_write(tmp_path, "one.xy", HEADER + "\n".join(str(10 + 0.1 * i) for i in range(100))), "one column")


def test_non_numeric_value_names_line(tmp_path, synth):
    lines = _lines(synth)
    lines[40] = "14.000 abc"
    msg = _bad(_write(tmp_path, "text.xy", HEADER + "\n".join(lines)), r"line 43: non-numeric value 'abc'")
    assert "line 43" in msg


def test_inconsistent_columns(tmp_path, synth):
    lines = _lines(synth)
    lines[10] += " 5 6"
    _bad(_write(tmp_path, "cols.xy", HEADER + "\n".join(lines)), r"line 13 has 4 columns")


@pytest.mark.parametrize("token", ["nan", "NaN", "inf", "-inf", "1e400"])
def test_nan_and_inf_name_the_line(tmp_path, synth, token):
    lines = _lines(synth)
    lines[7] = f"10.700 {token}"
    _bad(_write(tmp_path, "nan.xy", HEADER + "\n".join(lines)), r"NaN, infinite or missing \(line 10\)")


def test_huge_intensity(tmp_path, synth):
    lines = _lines(synth)
    lines[3] = "10.300 1e30"
    _bad(_write(tmp_path, "huge.xy", HEADER + "\n".join(lines)), r"intensity 1e\+30 \(line 6\) is implausibly large")


def test_duplicated_axis_values(tmp_path, synth):
    lines = _lines(synth)
    lines[60] = lines[20]
    _bad(_write(tmp_path, "dup.xy", HEADER + "\n".join(lines)), r"duplicated axis value 12 \(line 63\)")


def test_unsorted_valid_data_sorted_with_warning(tmp_path, synth):
    lines = _lines(synth)
    rng = np.random.default_rng(0)
    shuffled = [lines[i] for i in rng.permutation(len(lines))]
    p = read_pattern(_write(tmp_path, "shuffled.xy", HEADER + "\n".join(shuffled)))
    ref = read_pattern(_write(tmp_path, "sorted.xy", HEADER + "\n".join(lines)))
    assert any("sorted" in w for w in p.warnings)
    np.testing.assert_array_equal(p.q_inv_angstrom, ref.q_inv_angstrom)
    np.testing.assert_array_equal(p.intensity, ref.intensity)


def test_descending_scan_is_reversed_silently(tmp_path, synth):
    lines = _lines(synth)
    p = read_pattern(_write(tmp_path, "desc.xy", HEADER + "\n".join(lines[::-1])))
    assert p.warnings == () and np.all(np.diff(p.two_theta_deg) > 0)


def test_negative_counts_beyond_noise_rejected(tmp_path, synth):
    lines = _lines(synth)
    lines[100] = "20.000 -5000"
    _bad(_write(tmp_path, "neg.xy", HEADER + "\n".join(lines)), r"negative intensity -5000 \(line 103\)")


def test_small_negative_counts_allowed_with_warning(tmp_path):
    rng = np.random.default_rng(1)
    x = np.arange(10, 60, 0.05)
    y = 500 * np.exp(-(((x - 30) / 0.3) ** 2)) + rng.normal(0, 5, x.size)  # net data: noise around 0
    path = _write(tmp_path, "net.xy", HEADER + "\n".join(f"{a:.2f} {b:.3f}" for a, b in zip(x, y, strict=True)))
    p = read_pattern(path)
    assert (p.intensity < 0).any()
    assert any("negative intensities" in w for w in p.warnings)


@pytest.mark.parametrize(("first", "where"), [("0.000", "line 3"), ("-5.0", "line 3"), ("180.0", "")])
def test_two_theta_outside_0_180(tmp_path, synth, first, where):
    lines = _lines(synth)
    lines[0] = f"{first} 100"
    if first == "180.0":
        lines = lines[1:] + [f"{first} 100"]
        where = f"line {len(lines) + 2}"
    _bad(_write(tmp_path, "range.xy", HEADER + "\n".join(lines)), rf"2θ outside \(0, 180\).*\({where}\)")


def test_fewer_than_50_points(tmp_path, synth):
    _bad(_write(tmp_path, "short.xy", HEADER + "\n".join(_lines(synth, 49))), "only 49 data points")
    assert read_pattern(_write(tmp_path, "ok.xy", HEADER + "\n".join(_lines(synth, 50)))).n_points == 50


def test_constant_signal(tmp_path):
    text = HEADER + "\n".join(f"{10 + 0.1 * i:.1f} 0" for i in range(100))
    _bad(_write(tmp_path, "zeros.xy", text), "no signal")


def test_binary_garbage(tmp_path):
    rng = np.random.default_rng(3)
    _bad(_write(tmp_path, "garbage.xy", rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()), "binary file")
    _bad(_write(tmp_path, "controls.dat", bytes(range(1, 32)) * 100), "binary file")


def test_bruker_files_need_conversion(tmp_path):
    _bad(_write(tmp_path, "scan.brml", b"PK\x03\x04" + b"\x00" * 100), r"\.brml.*export the scan as \.xy")
    _bad(_write(tmp_path, "scan.raw", b"RAW1.01" + b"\x00\x01" * 200), r"Bruker binary \.raw.*\.xy")


def test_missing_file_and_directory(tmp_path):
    _bad(tmp_path / "nope.xy", "no such file")
    (tmp_path / "adir.xy").mkdir()
    _bad(tmp_path / "adir.xy", "is a directory")


def test_bad_options(tmp_path, synth):
    path = _write(tmp_path, "ok.xy", HEADER + "\n".join(_lines(synth)))
    with pytest.raises(InputError, match="unknown axis"):
        read_pattern(path, axis="energy")
    with pytest.raises(InputError, match="unknown wavelength"):
        read_pattern(path, wavelength="XxKa")
    with pytest.raises(InputError, match="gives 2θ data but --axis q"):
        read_pattern(Path(__file__).parents[1] / "data/patterns/scan.xrdml", axis="q")


def test_header_wavelength_out_of_range_is_ignored(tmp_path, synth):
    path = _write(tmp_path, "wl.xy", "# wavelength: 154.06\n" + "\n".join(_lines(synth)))
    msg = _bad(path, "no wavelength")
    assert "wl.xy" in msg
