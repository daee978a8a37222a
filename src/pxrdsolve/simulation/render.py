"""Turn a :class:`~pxrdsolve.diffraction.peaks.PeakTable` into the profiles a job asks for.

Noise and the PXRDNet Gaussian σ are drawn per structure from a generator seeded by
(seed, global structure index, size index), so results do not depend on batch size, sharding or
resuming.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from pxrdsolve.diffraction import pxrdnet as px
from pxrdsolve.diffraction.grids import PXRDNET_N_INPUT, pxrdnet_eval_q, pxrdnet_input_q, two_theta_from_q
from pxrdsolve.diffraction.peaks import PeakTable, source_line_sticks
from pxrdsolve.diffraction.profiles import render_pattern
from pxrdsolve.diffraction.radiation import Radiation
from pxrdsolve.simulation.config import SimulateConfig


def structure_generator(seed: int, index: int, size_index: int) -> torch.Generator:
    """A CPU generator for one (structure, size) pair, independent of batching."""
    mixed = np.random.SeedSequence([int(seed), int(index), int(size_index)]).generate_state(1, np.uint64)[0]
    gen = torch.Generator()
    gen.manual_seed(int(mixed) & ((1 << 63) - 1))
    return gen


def profile_layout(config: SimulateConfig) -> dict[str, tuple]:
    """Dataset shapes for :class:`~pxrdsolve.io.patterns_h5.PatternWriter`: name → (row shape, dtype, fixed)."""
    n_sizes = len(config.sizes_angstrom)
    if config.sticks_only:
        return {}
    if config.grid_spec.kind == "pxrdnet":
        return {
            "q_input": ((), "f8", pxrdnet_input_q()),
            "q_eval": ((), "f8", pxrdnet_eval_q()),
            "input": ((n_sizes, PXRDNET_N_INPUT), "f4", None),
            "sigma_bins": ((n_sizes,), "f8", None),
            "eval": ((pxrdnet_eval_q().size,), "f4", None),
        }
    q = config.q_axis()
    layout = {"q_inv_angstrom": ((), "f8", q), "intensity": ((n_sizes, q.size), "f4", None)}
    if config.grid_spec.kind == "2theta":
        layout["two_theta_deg"] = ((), "f8", config.grid_spec.axis())
    return layout


def line_sticks(peaks: PeakTable, radiation: Radiation) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sticks of every source line of a peak table on the primary-wavelength Q axis (see
    :func:`~pxrdsolve.diffraction.peaks.source_line_sticks`)."""
    return source_line_sticks(peaks.q_inv_angstrom, peaks.f_squared, peaks.crystal_index, radiation)


def render_profiles(
    peaks: PeakTable, config: SimulateConfig, global_indices: list[int]
) -> dict[str, np.ndarray]:
    """Profiles of one batch (rows aligned with ``global_indices``), as float arrays for the writer."""
    bsz = peaks.num_crystals
    sizes = config.sizes_angstrom
    noise_std = config.effective_noise_std
    if config.sticks_only:
        return {}
    if config.grid_spec.kind == "pxrdnet":
        inputs = np.zeros((bsz, len(sizes), PXRDNET_N_INPUT), np.float32)
        sigmas = np.zeros((bsz, len(sizes)))
        for j, size in enumerate(sizes):
            sig = torch.empty(bsz, dtype=torch.float64)
            noise = torch.zeros(bsz, PXRDNET_N_INPUT, dtype=torch.float64)
            for b, gi in enumerate(global_indices):
                gen = structure_generator(config.seed, gi, j)
                sig[b] = px.draw_sigma_bins(1, gen)[0]
                if noise_std > 0:
                    noise[b] = noise_std * torch.randn(PXRDNET_N_INPUT, generator=gen, dtype=torch.float64)
            x = px.pxrdnet_input_patterns(peaks, bsz, size, sigma_bins=sig, noise=noise.to(peaks.q_inv_angstrom.device),
                                          compute_dtype=torch.float32)
            inputs[:, j] = x.cpu().numpy()
            sigmas[:, j] = sig.numpy()
        ev = px.pxrdnet_eval_patterns(peaks, bsz, compute_dtype=torch.float32).cpu().numpy().astype(np.float32)
        return {"input": inputs, "sigma_bins": sigmas, "eval": ev}
    rad = config.radiation_obj
    q_grid = torch.as_tensor(config.q_axis(), dtype=torch.float64, device=peaks.q_inv_angstrom.device)
    qs, ints, idx = line_sticks(peaks, rad)
    out = np.zeros((bsz, len(sizes), q_grid.numel()), np.float32)
    for j, size in enumerate(sizes):
        y = render_pattern(qs.double(), ints.double(), idx, bsz, q_grid, size, config.instrument_fwhm_q,
                           config.instrument_eta)
        y = y / y.max(dim=1, keepdim=True).values.clamp_min(1e-300)
        if noise_std > 0:
            for b, gi in enumerate(global_indices):
                gen = structure_generator(config.seed, gi, j)
                y[b] += noise_std * torch.randn(q_grid.numel(), generator=gen, dtype=torch.float64).to(y.device)
        out[:, j] = y.cpu().numpy()
    return {"intensity": out}


def peak_arrays(peaks: PeakTable, wavelength_angstrom: float) -> dict[str, np.ndarray]:
    """Flat peak arrays for the writer (relative intensity: strongest peak of each structure = 100)."""
    q = peaks.q_inv_angstrom.detach().cpu().double()
    return {
        "num_peaks": torch.diff(peaks.offsets).cpu().numpy().astype(np.int32),
        "q_inv_angstrom": q.numpy(),
        "two_theta_deg": two_theta_from_q(q, wavelength_angstrom).numpy(),
        "d_angstrom": (2 * math.pi / q).numpy(),
        "intensity": peaks.relative_intensity().detach().cpu().double().numpy(),
        "f_squared": peaks.f_squared.detach().cpu().double().numpy(),
        "multiplicity": peaks.multiplicity.cpu().numpy().astype(np.int32),
        "hkl": peaks.hkl.cpu().numpy().astype(np.int16),
    }
