"""``rankNN.cif`` text of a ranked candidate: the refined structure in its space group, with the refinement record."""

from __future__ import annotations

import math


def ranked_cif_text(result, ranked, p1: bool = False) -> str:
    """CIF of ``ranked`` (a :class:`~pxrdsolve.solve.rank.RankedCandidate` of ``result``): symmetrised from its
    structure model (standard conventional cell, U_iso, λ, τ, zero shift, R_wp/R_p/GOF, source), or with
    ``p1`` the primitive cell in P1."""
    from pxrdsolve.structure.cif import template_cif
    from pxrdsolve.structure.template import p1_template
    from pxrdsolve.version import code_version

    tpl = ranked.template
    if p1 or tpl is None:
        tpl = p1_template(ranked.record)
    m = ranked.metrics
    gof = m.get("gof")
    refinement = {
        "software": f"pxrdsolve {code_version()}", "wavelength_angstrom": result.wavelength_angstrom,
        "size_angstrom": ranked.size_angstrom, "zero_shift_deg": ranked.zero_shift_deg,
        "r_wp": m.get("r_wp"), "r_p": m.get("r_p"), "gof": gof if gof is not None and math.isfinite(gof) else None,
        "source": ranked.candidate.source, "label": ranked.candidate.label,
        "march_dollase": result.refined.march_dollase(ranked.index),
    }
    return template_cif(tpl, name=f"rank{ranked.rank:02d}", refinement=refinement)
