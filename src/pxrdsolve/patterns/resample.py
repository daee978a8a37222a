"""Resampling of a measured pattern onto a target Q grid (Å⁻¹), with a mask of what was measured.

Grid convention: grid point ``q_grid[i]`` stands for the bin [q_i, q_{i+1}) - the convention of
PXRDNet's 512-point input, whose points are the first Q of each 8-bin max-pool window (the last bin
has the width of the one before).  Methods:

* ``max`` (default): average the data into ``subdivisions`` sub-bins per bin, then take the maximum
  of the sub-bins.  On the PXRDNet grid with 8 sub-bins this reproduces PXRDNet's own preprocessing
  (a 4096-bin pattern max-pooled by 8), so peak heights mean what the model was trained on, while the
  sub-bin averaging reduces noise;
* ``mean``: average of the data points in each bin;
* ``interp``: linear interpolation at the grid points.

Sub-bins (or points) without data inside the measured range - data coarser than the grid - are
interpolated.  ``mask[i]`` is True only when the whole bin (the point, for ``interp``) lies inside the
measured Q range and every sub-bin edge has data within 3 median data steps (so a gap in the data
is masked, while data coarser than the grid are interpolated); masked
values are 0 and carry no information (never "measured zero").
"""

from __future__ import annotations

import numpy as np

from pxrdsolve.errors import InputError

METHODS = ("max", "mean", "interp")


def bin_edges(q_grid: np.ndarray) -> np.ndarray:
    """Bin edges (n + 1, Å⁻¹) of a grid under the [q_i, q_{i+1}) convention."""
    q = np.asarray(q_grid, dtype=float)
    if q.size < 2 or np.any(np.diff(q) <= 0):
        raise InputError("a Q grid needs at least 2 strictly increasing points")
    return np.append(q, q[-1] + (q[-1] - q[-2]))


def _covered(q_data: np.ndarray, positions: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
    """True where a position is inside the data range and data lie within ``tolerance`` of it."""
    inside = (positions >= q_data[0]) & (positions <= q_data[-1])
    idx = np.clip(np.searchsorted(q_data, positions), 1, q_data.size - 1)
    nearest = np.minimum(np.abs(positions - q_data[idx - 1]), np.abs(q_data[idx] - positions))
    return inside & (nearest <= tolerance)


def _bin_means(q: np.ndarray, y: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Mean of y in each bin [edges[k], edges[k+1]); interpolated at the bin centre where empty."""
    which = np.searchsorted(edges, q, side="right") - 1
    nbins = edges.size - 1
    ok = (which >= 0) & (which < nbins)
    sums = np.bincount(which[ok], weights=y[ok], minlength=nbins)
    counts = np.bincount(which[ok], minlength=nbins)
    centres = 0.5 * (edges[:-1] + edges[1:])
    out = np.interp(centres, q, y)
    has = counts > 0
    out[has] = sums[has] / counts[has]
    return out


def resample_to_grid(
    q_inv_angstrom: np.ndarray,
    intensity: np.ndarray,
    q_grid: np.ndarray,
    *,
    method: str = "max",
    subdivisions: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
    """(values on ``q_grid``, boolean mask of measured grid points); see the module docstring."""
    if method not in METHODS:
        raise InputError(f"unknown resampling method {method!r}: use {', '.join(METHODS)}")
    q = np.asarray(q_inv_angstrom, dtype=float)
    y = np.asarray(intensity, dtype=float)
    grid = np.asarray(q_grid, dtype=float)
    edges = bin_edges(grid)
    data_step = float(np.median(np.diff(q))) if q.size > 1 else 0.0
    if method == "interp":
        mask = _covered(q, grid, np.full(grid.size, 3.0 * data_step))
        values = np.where(mask, np.interp(grid, q, y), 0.0)
        return values, mask
    sub = 1 if method == "mean" else max(int(subdivisions), 1)
    fractions = np.arange(sub + 1) / sub
    fine_edges = (edges[:-1, None] + np.diff(edges)[:, None] * fractions[None, :-1]).ravel()
    fine_edges = np.append(fine_edges, edges[-1])
    fine = _bin_means(q, y, fine_edges).reshape(grid.size, sub)
    tol = np.full(fine_edges.size - 1, 3.0 * data_step)
    left_ok = _covered(q, fine_edges[:-1], tol).reshape(grid.size, sub)
    right_ok = _covered(q, fine_edges[1:] - 1e-12 * np.abs(fine_edges[1:]), tol).reshape(grid.size, sub)
    centre_ok = _covered(q, 0.5 * (fine_edges[:-1] + fine_edges[1:]), tol).reshape(grid.size, sub)
    mask = np.all(left_ok & right_ok & centre_ok, axis=1)
    values = fine.max(axis=1) if method == "max" else fine.mean(axis=1)
    return np.where(mask, values, 0.0), mask
