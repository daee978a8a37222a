"""Which candidates each refinement stage takes: the gradient refinement's set (best by χ², one of each further
structure type) and the order in which the texture and polish stages take their few."""

from __future__ import annotations

import math

import numpy as np
import torch

from pxrdsolve.solve.axial_scan import structure_type_key
from pxrdsolve.structure.template import SymmetricTemplate


def distinct_first(templates: list[SymmetricTemplate], indices: list[int], score: np.ndarray) -> list[int]:
    """``indices`` by ascending ``score``, the best of each structure type
    (:func:`~pxrdsolve.solve.axial_scan.structure_type_key`) first and then the others: the texture and polish
    stages, which take the first few, then compare the best of different types (a cubic structure and its
    tetragonal variants), not several copies of one type from different library entries."""
    first: list[int] = []
    rest: list[int] = []
    seen: set[tuple] = set()
    for b in sorted(indices, key=lambda i: float(score[i])):
        key = structure_type_key(templates[b])
        (rest if key in seen else first).append(b)
        seen.add(key)
    return first + rest


def refine_indices(templates: list[SymmetricTemplate], chi2: torch.Tensor, top_k: int, diverse_k: int) -> torch.Tensor:
    """Candidates for gradient refinement: the ``top_k`` lowest ``chi2``, then, in χ² order, the best candidate
    (finite χ²) of each structure type (:func:`~pxrdsolve.solve.axial_scan.structure_type_key`) not among them,
    at most ``diverse_k`` of these; none at all when ``top_k`` is 0 (no refinement, e.g. the library-only baseline)."""
    order = torch.argsort(chi2).tolist()
    top = order[: min(max(top_k, 0), len(order))]
    if diverse_k > 0 and top:
        seen = {structure_type_key(templates[b]) for b in top}
        extra: list[int] = []
        for b in order[len(top):]:
            if len(extra) >= diverse_k or not math.isfinite(float(chi2[b])):
                break
            key = structure_type_key(templates[b])
            if key not in seen:
                seen.add(key)
                extra.append(b)
        top = top + extra
    return torch.as_tensor(top, dtype=torch.long)
