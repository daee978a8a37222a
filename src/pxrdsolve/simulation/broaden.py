"""``broaden``: new size / instrument / noise / grid for stored peaks, without structure factors.

The stored Σ|F|² of every peak (no Lorentz–polarisation) and the file's radiation give the sticks
again; only the profile step runs.  A CIF input is simulated directly with the same settings.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from pxrdsolve.diffraction.peaks import PeakTable, lorentz_polarisation
from pxrdsolve.errors import InputError
from pxrdsolve.io.patterns_h5 import PatternWriter, RowReader, open_patterns
from pxrdsolve.simulation.config import SimulateConfig
from pxrdsolve.simulation.render import profile_layout, render_profiles
from pxrdsolve.simulation.run import SimulateResult, run_simulate


def peak_table_from_arrays(peaks: dict[str, np.ndarray], wavelength_angstrom: float) -> PeakTable:
    """Rebuild a :class:`PeakTable` from peak rows of a pattern file (``num_peaks`` and flat arrays)."""
    counts = torch.as_tensor(peaks["num_peaks"], dtype=torch.long)
    q = torch.as_tensor(peaks["q_inv_angstrom"], dtype=torch.float64)
    fsq = torch.as_tensor(peaks["f_squared"], dtype=torch.float64)
    return PeakTable(
        q_inv_angstrom=q, intensity=fsq * lorentz_polarisation(q, wavelength_angstrom), f_squared=fsq,
        hkl=torch.as_tensor(peaks["hkl"].astype(np.int64)),
        multiplicity=torch.as_tensor(peaks["multiplicity"].astype(np.int64)),
        crystal_index=torch.repeat_interleave(torch.arange(len(counts)), counts),
        offsets=torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(counts, 0)]),
        wavelength_angstrom=wavelength_angstrom,
    )


def run_broaden(
    source: str | Path, output: str | Path, changes: dict, batch_size: int = 512, resume: bool = False
) -> SimulateResult:
    """Re-broaden ``source`` (a pattern HDF5 file or a CIF) with ``changes`` to the simulate config.

    ``changes`` may set ``sizes_angstrom``, ``instrument_fwhm_q``, ``instrument_eta``, ``noise_std``,
    ``seed`` and ``grid``; the radiation stays the file's (peaks were computed for it).
    """
    source = Path(source)
    if source.suffix.lower() in (".cif", ".mcif", ".csv") or source.is_dir():
        config = SimulateConfig(**changes)
        return run_simulate([str(source)], output, config, resume=resume)
    t0 = time.perf_counter()
    with open_patterns(source) as h5:
        old = json.loads(h5.attrs["config"])
        old_sim = dict(old["simulate"])
        if "radiation" in changes and changes["radiation"] != old_sim["radiation"]:
            raise InputError(f"{source}: peaks were computed for {old_sim['radiation']}; simulate again instead")
        base = SimulateConfig(
            radiation=old_sim["radiation"], grid=old_sim["grid"],
            sizes_angstrom=tuple(float(s) for s in old_sim["sizes_angstrom"]),
            instrument_fwhm_q=old_sim["instrument_fwhm_q"], instrument_eta=old_sim["instrument_eta"],
            noise_std=old_sim["noise_std"], seed=old_sim["seed"], cell=old_sim["cell"],
            max_atoms=old_sim["max_atoms"], sticks_only=old_sim["sticks_only"],
        )
        config = replace(base, sticks_only=False, **changes)
        # the grid must lie within the stored peaks (tails of peaks just beyond them are not there)
        if config.grid_spec.kind != "pxrdnet" and config.grid_q_reach() > base.peak_q_max() * 1.0001:
            raise InputError(f"{source}: stored peaks stop at Q = {base.peak_q_max():.3f} Å⁻¹ but the new grid "
                             f"reaches Q = {config.grid_q_reach():.3f} Å⁻¹: simulate again instead")
        reader = RowReader(h5)
        n = reader.n
        first = int(old.get("first_global_index", 0))
        cfg_json = dict(old, simulate=config.to_json(), broadened_from=str(source))
        writer = PatternWriter(output, cfg_json, profile_layout(config), resume, batch_size)
        batch_size = writer.batch_size  # a resume keeps the killed run's batches
        resumed_from = writer.n_done
        fails = reader.failures()
        try:
            lam = config.radiation_obj.wavelength_angstrom
            for lo in range(writer.n_done, n, batch_size):
                hi = min(n, lo + batch_size)
                rows, pk, _ = reader.rows(lo, hi)
                table = peak_table_from_arrays(pk, lam)
                profiles = render_profiles(table, config, list(range(first + lo, first + hi)))
                writer.append(rows, pk, profiles, fails if hi == n else [], n_done=hi)
            if n == 0:
                writer.append({}, {}, {}, fails, n_done=0)
            writer.finish()
        finally:
            writer.close()
    return SimulateResult(str(output), n, n, len(fails), tuple(fails), time.perf_counter() - t0, resumed_from,
                          batch_size)


def broaden_measured(
    source: str | Path, output: str | Path, size_angstrom: float, instrument_fwhm_q: float = 0.0,
    instrument_eta: float = 0.0, wavelength: str | None = None, axis: str | None = None,
) -> int:
    """Convolve a measured or simulated two-column pattern with an extra size/instrument kernel.

    The pattern is read with :func:`pxrdsolve.patterns.read_pattern`, interpolated onto a uniform Q
    grid (its smallest Q step), multiplied in Fourier space by the kernel's transfer function
    (see :mod:`pxrdsolve.diffraction.profiles`), and written back on its own axis as ``.xy``.
    Returns the number of points written.
    """
    from pxrdsolve.diffraction.profiles import transfer_function
    from pxrdsolve.io.atomic import write_text_atomic
    from pxrdsolve.patterns import read_pattern

    pat = read_pattern(source, wavelength=wavelength, axis=axis)
    q = pat.q_inv_angstrom
    step = float(np.min(np.diff(q)))
    n = int(np.ceil((q[-1] - q[0]) / step)) + 1
    if n > 2_000_000:
        raise InputError(f"{source}: Q steps too fine to resample ({n} points)")
    grid = q[0] + step * np.arange(n)
    y = np.interp(grid, q, pat.intensity)
    pad = n  # zero padding: no wrap-around
    spec = np.fft.rfft(y, 2 * pad)
    x = 2 * np.pi * np.fft.rfftfreq(2 * pad, d=step)
    t = transfer_function(torch.as_tensor(x), torch.tensor([float(size_angstrom)], dtype=torch.float64),
                          torch.tensor([instrument_fwhm_q], dtype=torch.float64),
                          torch.tensor([instrument_eta], dtype=torch.float64))[0].numpy()
    out = np.fft.irfft(spec * t, 2 * pad)[:n]
    yq = np.interp(q, grid, out)
    xs = pat.source_axis_values()
    header = (f"# pxrdsolve broaden of {source}: size_angstrom {size_angstrom}, instrument_fwhm_q "
              f"{instrument_fwhm_q}, eta {instrument_eta}\n")
    if pat.wavelength_angstrom:
        header += f"# wavelength_angstrom {pat.wavelength_angstrom}\n"
    header += f"# columns: {'2theta (deg)' if pat.source_axis == '2theta' else pat.source_axis}  intensity\n"
    order = np.argsort(xs)
    write_text_atomic(output, header + "".join(f"{a:.6f} {b:.6e}\n" for a, b in zip(xs[order], yq[order])))
    return int(q.size)
