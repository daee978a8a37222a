"""Regenerate the small synthetic pattern files of this folder (run by hand, not by pytest).

Each file is a synthetic powder pattern of an fcc cell (a = 4.10 Å) with pseudo-Voigt peaks, a
smooth background and Poisson noise (fixed seed), written in one of the formats the readers
support.  ``real_excerpt_br1340.cif`` is the first 62 lines of a real IUCr pdCIF (br1340Isup2) plus
its radiation items, and is not regenerated here.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
A_ANGSTROM = 4.10
FCC_N = (3, 4, 8, 11, 12, 16, 19, 20, 24, 27, 32)
REL_INTENSITY = (1.0, 0.55, 0.35, 0.4, 0.12, 0.08, 0.15, 0.14, 0.1, 0.08, 0.05)


def peak_q() -> np.ndarray:
    return 2.0 * math.pi * np.sqrt(np.array(FCC_N, float)) / A_ANGSTROM


def counts_2theta(two_theta_deg: np.ndarray, wavelength: float, seed: int, fwhm_deg: float = 0.12) -> np.ndarray:
    y = 150.0 + 900.0 * np.exp(-two_theta_deg / 9.0)
    for qk, ik in zip(peak_q(), REL_INTENSITY, strict=True):
        s = qk * wavelength / (4.0 * math.pi)
        if s >= 1:
            continue
        tth = 2.0 * math.degrees(math.asin(s))
        u = (two_theta_deg - tth) / fwhm_deg
        y += 8000.0 * ik * (0.5 / (1.0 + 4.0 * u * u) + 0.5 * np.exp(-4.0 * math.log(2.0) * u * u))
    return np.random.default_rng(seed).poisson(y).astype(float)


def counts_q(q: np.ndarray, seed: int, fwhm_q: float = 0.02) -> np.ndarray:
    y = 100.0 + 400.0 * np.exp(-q)
    for qk, ik in zip(peak_q(), REL_INTENSITY, strict=True):
        u = (q - qk) / fwhm_q
        y += 5000.0 * ik * np.exp(-4.0 * math.log(2.0) * u * u)
    return np.random.default_rng(seed).poisson(y).astype(float)


def main() -> None:
    tth = np.round(np.arange(10.0, 65.0 + 1e-9, 0.05), 3)
    y = counts_2theta(tth, 1.54056, 1)
    lines = [
        "# Synthetic lab scan for pxrdsolve tests (fcc, a = 4.10 A)",
        "# Instrument: Bragg-Brentano, Ni filter",
        "# Wavelength = 1.54056 A (Cu Ka1)",
        "# 2theta(deg)  counts",
    ]
    lines += [f"{x:.3f} {v:.0f}" for x, v in zip(tth, y, strict=True)]
    (HERE / "cu_lab_header.xy").write_text("\n".join(lines) + "\n")

    tth = np.round(np.arange(4.0, 34.0 + 1e-9, 0.05), 3)
    y = counts_2theta(tth, 0.70930, 2, fwhm_deg=0.06)
    lines = ["# Mo Ka1 capillary scan (synthetic)", "# lambda: 0.70930 A", "# 2Theta Intensity ESD"]
    lines += [f"{x:.3f} {v:.0f} {math.sqrt(max(v, 1)):.2f}" for x, v in zip(tth, y, strict=True)]
    (HERE / "mo_esd.xye").write_text("\n".join(lines) + "\n")

    q = np.round(np.arange(0.6, 6.0 + 1e-9, 0.01), 4)
    y = counts_q(q, 3)
    (HERE / "q_header.csv").write_text(
        "Q (1/A),Intensity\n" + "".join(f"{a:.4f},{b:.0f}\n" for a, b in zip(q, y, strict=True))
    )

    qd = np.linspace(1.05, 6.0, 400)
    y = counts_q(qd, 4)
    d = 2.0 * math.pi / qd
    (HERE / "d_spacing.dat").write_text(
        "# columns: d(A) intensity\n" + "".join(f"{a:.5f}\t{b:.0f}\n" for a, b in zip(d[::-1], y[::-1], strict=True))
    )

    tth = np.round(np.arange(10.0, 80.0 + 1e-9, 0.1), 2)
    y = counts_2theta(tth, 1.54056, 5)
    (HERE / "no_hint.txt").write_text("".join(f"{a:.2f}  {b:.0f}\n" for a, b in zip(tth, y, strict=True)))

    write_pdcifs()
    write_gsas()
    write_xrdml()


def write_pdcifs() -> None:
    tth = np.round(np.arange(10.0, 60.0 + 1e-9, 0.1), 2)
    y = counts_2theta(tth, 1.5418, 6) - 140.0
    rows = [
        f"{i + 1:<5d} {x:6.2f}  .  {v:.0f}({math.sqrt(max(v + 140, 1)):.0f})  {v * 0.98:.0f}"
        for i, (x, v) in enumerate(zip(tth, y, strict=True))
    ]
    text = [
        "data_I",
        "",
        "_pd_block_id      testprofile",
        "",
        "loop_",
        "      _pd_proc_point_id",
        "      _pd_proc_2theta_corrected",
        "      _pd_proc_d_spacing",
        "      _pd_proc_intensity_net",
        "      _pd_calc_intensity_net",
        *rows,
        "",
        "_diffrn_radiation_type",
        "CuK\\a",
        "_diffrn_radiation_wavelength",
        "1.5418",
        "_cell_length_a",
        "4.100(1)",
        "",
        "data_I_simulated_1.5418",
        "",
        "_publcif_pd_cifplot 'simulated'",
        "",
    ]
    (HERE / "explicit_pdcif.cif").write_text("\n".join(text) + "\n")

    tth = np.round(np.arange(5.0, 29.95 + 1e-9, 0.05), 2)
    y = counts_2theta(tth, 0.70930, 7, fwhm_deg=0.05)
    text = [
        "data_test_publ",
        "_pd_block_id  2024|test_publ",
        "",
        "data_test_overall",
        "_diffrn_radiation_wavelength           0.70930",
        "_diffrn_radiation_type  'Mo K\\a~1~'",
        "",
        "data_test_p_01",
        "_pd_block_id",
        "  2024|test_p_01",
        "",
        "#---- raw/calc data loop -----",
        "_pd_meas_2theta_range_min              5.00",
        "_pd_meas_2theta_range_max              29.95",
        "_pd_meas_2theta_range_inc              0.05",
        "",
        "loop_",
        "      _pd_meas_counts_total",
        "      _pd_proc_ls_weight",
        "      _pd_calc_intensity_total",
    ]
    text += [f"  {v:.1f}      {1 / max(v, 1):.3e}   ." for v in y]
    text += [
        "",
        "data_test_phase_1_simulated_",
        "_pd_proc_2theta_range_min 0.020",
        "_pd_proc_2theta_range_inc 0.020",
        "_diffrn_radiation_wavelength 1.54056",
        "loop_ _pd_calc_intensity_total #SCANDATA",
        "0",
        "0",
        "",
    ]
    (HERE / "implicit_pdcif.cif").write_text("\n".join(text) + "\n")


def write_gsas() -> None:
    tth = 10.0 + 0.05 * np.arange(601)
    y = counts_2theta(tth, 1.54056, 8).astype(int)
    lines = [
        "pxrdsolve test: synthetic CW scan, wavelength 1.54056 A".ljust(80),
        "Instrument parameter file: lab_cu.prm".ljust(80),
        "BANK 1 601 61 CONST 1000.00 5.00 0 0 STD".ljust(80),
    ]
    for k in range(0, y.size, 10):
        lines.append("".join(f"{1:2d}{v:6d}" for v in y[k : k + 10]).ljust(80))
    (HERE / "const_std.gsa").write_text("\n".join(lines) + "\n")

    tth = 15.0 + 0.05 * np.arange(400)
    y = counts_2theta(tth, 1.54056, 9)
    lines = [
        "pxrdsolve test: synthetic ESD bank (no radiation stated)".ljust(80),
        "BANK 1 400 80 CONST 1500.00 5.00 0 0 ESD".ljust(80),
    ]
    for k in range(0, y.size, 5):
        lines.append("".join(f"{v:8.1f}{math.sqrt(v):8.2f}" for v in y[k : k + 5]).ljust(80))
    (HERE / "const_esd.gsa").write_text("\n".join(lines) + "\n")

    tth = 10.0 + 0.04 * np.arange(500)
    y = counts_2theta(tth, 1.54056, 10)
    lines = [
        "GSAS-II export: synthetic, lambda = 1.54056",
        "# two banks; bank 2 is a short repeat",
        "BANK 1 500 500 CONS 1000.0 4.0 0 0 FXYE",
    ]
    lines += [f"{100 * x:10.3f} {v:10.2f} {math.sqrt(v):8.3f}" for x, v in zip(tth, y, strict=True)]
    lines += ["BANK 2 60 60 CONS 1000.0 4.0 0 0 FXYE"]
    lines += [f"{100 * x:10.3f} {v:10.2f} {math.sqrt(v):8.3f}" for x, v in zip(tth[:60], y[:60], strict=True)]
    (HERE / "fxye_bank.fxye").write_text("\n".join(lines) + "\n")


def write_xrdml() -> None:
    y = counts_2theta(np.linspace(10.0, 50.0, 401), 1.5405980, 11).astype(int)
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<xrdMeasurements xmlns="http://www.xrdml.com/XRDMeasurement/1.5" status="Completed">
  <sample type="To be analyzed"><id>test-fcc</id><name>synthetic</name></sample>
  <xrdMeasurement measurementType="Scan" status="Completed" sampleMode="Reflection">
    <usedWavelength intended="K-Alpha">
      <kAlpha1 unit="Angstrom">1.5405980</kAlpha1>
      <kAlpha2 unit="Angstrom">1.5444260</kAlpha2>
      <kBeta unit="Angstrom">1.3922500</kBeta>
      <ratioKAlpha2KAlpha1>0.5000</ratioKAlpha2KAlpha1>
    </usedWavelength>
    <incidentBeamPath><radius unit="mm">240.00</radius></incidentBeamPath>
    <scan appendNumber="0" mode="Continuous" scanAxis="Gonio" status="Completed">
      <header><startTimeStamp>2024-01-01T10:00:00</startTimeStamp></header>
      <dataPoints>
        <positions axis="2Theta" unit="deg">
          <startPosition>10.0000</startPosition>
          <endPosition>50.0000</endPosition>
        </positions>
        <positions axis="Omega" unit="deg">
          <startPosition>5.0000</startPosition>
          <endPosition>25.0000</endPosition>
        </positions>
        <commonCountingTime unit="seconds">0.50</commonCountingTime>
        <intensities unit="counts">{" ".join(str(v) for v in y)}</intensities>
      </dataPoints>
    </scan>
  </xrdMeasurement>
</xrdMeasurements>
"""
    (HERE / "scan.xrdml").write_text(text)


if __name__ == "__main__":
    main()
