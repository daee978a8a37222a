"""Per-structure powder peaks computed once and reused by every training batch.

A crystal's peaks (positions Q in Å⁻¹ and Σ|F|² per merged reflection, electrons², with the
Lorentz–polarisation intensity at the augmentation wavelength) depend only on its structure, which
never changes during training; only the broadening (τ, instrument σ), noise and Q cut are random.
:class:`PeakCache` computes the peaks of crystals the first time a batch needs them (batched, one
:func:`~pxrdsolve.diffraction.peaks.compute_peaks` call for the missing ones) and assembles a batch's
:class:`~pxrdsolve.diffraction.peaks.PeakTable` from the stored rows afterwards, so the per-step cost
is the broadening alone.  Memory: ~50-300 peaks per MP-20 crystal × 3 float64 numbers, about
100 MB for 45k crystals at 2θ ≤ 90° (Cu Kα).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from pxrdsolve.crystal import CrystalBatch
from pxrdsolve.diffraction.peaks import PeakTable, compute_peaks
from pxrdsolve.ops.scatter import segment_offsets


class PeakCache:
    """Peaks per crystal index, filled on demand.

    ``batch_fn(indices)`` returns the :class:`CrystalBatch` of those dataset indices (e.g.
    :meth:`~pxrdsolve.training.data.CrystalDataset.batch`); peaks are computed in float64 up to
    ``q_max_inv_angstrom`` at ``wavelength_angstrom``.
    """

    def __init__(self, batch_fn: Callable[[np.ndarray], CrystalBatch], wavelength_angstrom: float,
                 q_max_inv_angstrom: float) -> None:
        self.batch_fn = batch_fn
        self.wavelength_angstrom = float(wavelength_angstrom)
        self.q_max_inv_angstrom = float(q_max_inv_angstrom)
        self._rows: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # q, intensity, f²
        self.computed = 0  # crystals whose peaks were computed (cache misses)

    def __len__(self) -> int:
        return len(self._rows)

    def _fill(self, indices: np.ndarray) -> None:
        missing = np.unique([int(i) for i in indices if int(i) not in self._rows])
        if missing.size == 0:
            return
        crystals = self.batch_fn(missing).to(dtype=torch.float64)
        with torch.no_grad():
            peaks = compute_peaks(crystals, self.wavelength_angstrom, self.q_max_inv_angstrom)
        q = peaks.q_inv_angstrom.cpu().numpy()
        inten = peaks.intensity.cpu().numpy()
        fsq = peaks.f_squared.cpu().numpy()
        off = peaks.offsets.cpu().numpy()
        for j, idx in enumerate(missing.tolist()):
            s = slice(int(off[j]), int(off[j + 1]))
            self._rows[idx] = (q[s].copy(), inten[s].copy(), fsq[s].copy())
        self.computed += int(missing.size)

    def peaks(self, indices: np.ndarray, device: str | torch.device = "cpu") -> PeakTable:
        """The :class:`PeakTable` of dataset crystals ``indices`` (in that order, repeats allowed).

        ``hkl`` is not stored (zeros) and ``multiplicity`` is 1: the pattern simulators only use
        Q, |F|² and the intensities.
        """
        idx = [int(i) for i in np.asarray(indices).reshape(-1)]
        self._fill(np.asarray(idx))
        rows = [self._rows[i] for i in idx]
        counts = torch.tensor([len(r[0]) for r in rows], dtype=torch.long)
        cat = lambda k: torch.as_tensor(np.concatenate([r[k] for r in rows]), dtype=torch.float64)  # noqa: E731
        n = int(counts.sum())
        return PeakTable(
            q_inv_angstrom=cat(0).to(device), intensity=cat(1).to(device), f_squared=cat(2).to(device),
            hkl=torch.zeros((n, 3), dtype=torch.long, device=device),
            multiplicity=torch.ones(n, dtype=torch.long, device=device),
            crystal_index=torch.repeat_interleave(torch.arange(len(idx)), counts).to(device),
            offsets=segment_offsets(counts).to(device), wavelength_angstrom=self.wavelength_angstrom,
        )
