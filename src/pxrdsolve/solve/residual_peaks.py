"""Strong observed peaks that the fitted model leaves unexplained (an impurity, a holder, a wrong answer)."""

from __future__ import annotations

import math

import numpy as np


def unexplained_peaks(data, refined, index: int, sigma: float = 8.0, min_fraction: float = 0.05,
                      max_listed: int = 6) -> list[str]:
    """Positions (2θ degrees for 2θ data, else Q Å⁻¹, as text) of local maxima of the difference
    y − y_calc of candidate ``index`` that exceed ``sigma`` esds (or ``sigma`` × the robust scatter of
    the difference without a noise model) and ``min_fraction`` of the net maximum of the pattern."""
    y = data.intensity.numpy()
    calc = refined.calculated[index]
    bg = refined.background[index]
    diff = y - calc
    if data.has_noise_model:
        noise = 1.0 / np.sqrt(np.maximum(data.weight.numpy(), 1e-300))
    else:
        noise = np.full_like(y, 1.4826 * np.median(np.abs(diff - np.median(diff))) + 1e-300)
    net_max = float(np.max(y - bg)) if y.size else 0.0
    ok = (diff > sigma * noise) & (diff > min_fraction * net_max)
    peaks = [i for i in range(1, y.size - 1) if ok[i] and diff[i] >= diff[i - 1] and diff[i] >= diff[i + 1]]
    peaks.sort(key=lambda i: -diff[i])
    axis = data.two_theta_deg.numpy() if data.two_theta_deg is not None else data.q_inv_angstrom.numpy()
    unit = "°" if data.two_theta_deg is not None else " Å⁻¹"
    out, taken = [], []
    for i in peaks:
        if any(abs(axis[i] - t) < (0.3 if unit == "°" else 0.02) for t in taken):
            continue
        taken.append(axis[i])
        out.append(f"{axis[i]:.2f}{unit}" if math.isfinite(axis[i]) else "?")
        if len(out) >= max_listed:
            break
    return out
