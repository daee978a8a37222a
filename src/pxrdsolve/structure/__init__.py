"""The structure model of a refinement: a crystal as space group + conventional cell + Wyckoff orbits
(:mod:`.template`), its cell parameters by crystal system (:mod:`.cell`), the batched differentiable
regeneration of the primitive cells from free parameters (:mod:`.model`) and the symmetrised CIF (:mod:`.cif`)."""

from __future__ import annotations

from pxrdsolve.structure.template import Orbit, SymmetricTemplate, crystal_system, p1_template, symmetric_template

__all__ = ["Orbit", "SymmetricTemplate", "crystal_system", "p1_template", "symmetric_template"]
