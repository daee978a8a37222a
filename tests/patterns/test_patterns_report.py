"""inspect_pattern's report, its JSON form and the PNG plot."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pxrdsolve.patterns import inspect_pattern
from pxrdsolve.patterns.plotting import _spans, plot_report


def test_report_of_committed_file(data_dir):
    r = inspect_pattern(data_dir / "mo_esd.xye")
    assert r.format == "xye" and r.source_axis == "2theta" and r.axis_unit == "deg"
    assert (r.axis_min, r.axis_max) == pytest.approx((4.0, 34.0))
    assert r.q_min_inv_angstrom == pytest.approx(4 * np.pi * np.sin(np.deg2rad(2.0)) / 0.7093)
    assert r.has_esd and r.wavelength_angstrom == pytest.approx(0.7093)
    assert 0 < r.background_fraction < 1
    assert 0 < r.model_points_measured < r.model_points_total == 512
    data = json.loads(json.dumps(r.to_json()))
    assert data["wavelength_angstrom"] == pytest.approx(0.7093) and data["model_grid"]["n_points"] == 512
    assert [s["name"] for s in data["steps"]][-1] == "normalize"


def test_report_size_of_nanocrystal(tmp_path, synth):
    q = np.arange(0.5, 7.0, 0.002)
    y = 50 + 1000 * synth.sinc2_peaks(q, [1.5, 2.5, 3.5, 4.5], 20.0)
    path = synth.write_xy(tmp_path / "nano.xy", q, y, ["columns: Q_invA intensity"])
    r = inspect_pattern(path)
    assert r.source_axis == "q" and r.wavelength_angstrom is None
    assert r.model.size.size_angstrom == pytest.approx(20.0, rel=0.15)
    assert r.to_json()["size"]["column_length_angstrom"] == pytest.approx(2 * r.model.size.size_angstrom)


def test_plot_writes_png(tmp_path, data_dir):
    r = inspect_pattern(data_dir / "cu_lab_header.xy")
    out = plot_report(r, tmp_path / "plot.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_masked_spans():
    q = np.arange(10.0)
    mask = np.array([0, 0, 1, 1, 1, 0, 1, 1, 0, 0], bool)
    assert _spans(q, mask) == [(0.0, 2.0), (5.0, 6.0), (8.0, 10.0)]
