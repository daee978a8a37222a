"""Helpers for the patterns tests: the committed data folder and numpy pattern synthesis."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

PATTERN_DATA = Path(__file__).parents[1] / "data" / "patterns"


def sinc2_peaks(q: np.ndarray, peaks_q: list[float], tau_angstrom: float, heights=None) -> np.ndarray:
    """Σ_k h_k (τ/π) sinc²(τ(Q − Q_k)) with numpy's sinc convention sinc(x) = sin(πx)/(πx)."""
    heights = np.ones(len(peaks_q)) if heights is None else np.asarray(heights, float)
    y = np.zeros_like(q)
    for qk, hk in zip(peaks_q, heights, strict=True):
        y += hk * (tau_angstrom / np.pi) * np.sinc(tau_angstrom * (q - qk) / np.pi) ** 2
    return y


def gaussian_peaks_q(q: np.ndarray, peaks_q, fwhm_q: float, heights=None) -> np.ndarray:
    heights = np.ones(len(peaks_q)) if heights is None else np.asarray(heights, float)
    y = np.zeros_like(q)
    for qk, hk in zip(peaks_q, heights, strict=True):
        y += hk * np.exp(-4.0 * math.log(2.0) * ((q - qk) / fwhm_q) ** 2)
    return y


def q_of(two_theta_deg: np.ndarray, wavelength_angstrom: float) -> np.ndarray:
    return 4.0 * np.pi * np.sin(np.deg2rad(two_theta_deg) / 2.0) / wavelength_angstrom


def write_xy(path: Path, x: np.ndarray, y: np.ndarray, header: list[str] = ()) -> Path:
    lines = [f"# {h}" for h in header] + [f"{a:.5f} {b:.4f}" for a, b in zip(x, y, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def two_column_text(n: int = 200, start: float = 10.0, step: float = 0.1) -> list[str]:
    """Lines of a valid 2θ pattern (one broad peak on a flat background)."""
    x = start + step * np.arange(n)
    y = 100.0 + 1000.0 * np.exp(-(((x - x.mean()) / 0.5) ** 2))
    return [f"{a:.3f} {b:.1f}" for a, b in zip(x, y, strict=True)]


@pytest.fixture
def synth() -> SimpleNamespace:
    return SimpleNamespace(
        sinc2_peaks=sinc2_peaks,
        gaussian_peaks_q=gaussian_peaks_q,
        q_of=q_of,
        write_xy=write_xy,
        two_column_text=two_column_text,
    )


@pytest.fixture
def data_dir() -> Path:
    return PATTERN_DATA
