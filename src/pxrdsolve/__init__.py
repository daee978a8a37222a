"""pxrdsolve: crystal structure solution from powder X-ray diffraction (PXRD) patterns.

The core keeps three things apart: the batched differentiable simulator
(:mod:`pxrdsolve.diffraction`), the generative model and the candidate ranker/refiner.
Q (Å⁻¹) is the canonical axis inside the core; 2θ (degrees) appears only at the edges.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
