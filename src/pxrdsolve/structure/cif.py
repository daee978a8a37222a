"""A symmetrised CIF of a :class:`~pxrdsolve.structure.template.SymmetricTemplate` (CIF 1.1, core + powder).

Written straight from the structure model, so the CIF, the table and ``summary.json`` cannot disagree:
the space group (Hermann–Mauguin symbol and IT number, every operation listed as x,y,z), the
conventional cell (Å, degrees) with its volume and Z, one ``_atom_site`` row per species on each orbit
(representative position, multiplicity, Wyckoff letter, U_iso = B / 8π² in Å², occupancy) and, when
given, the refinement record: wavelength (Å), nanocrystal size τ (Å, PXRDNet convention, column
length 2τ), 2θ zero shift (degrees), March–Dollase preferred orientation (ratio r and direction, as
GSAS-II writes ``_pd_proc_ls_pref_orient_corr``), R_wp, R_p, GOF and the candidate's source.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

from pxrdsolve.elements import SYMBOLS
from pxrdsolve.structure.template import SymmetricTemplate


def symop_xyz(rotation: np.ndarray, translation: np.ndarray) -> str:
    """One operation as a CIF x,y,z string (e.g. ``-y,x-y,z+1/3``)."""
    terms = []
    for row, t in zip(np.asarray(rotation, int), np.asarray(translation, float)):
        s = ""
        for coef, name in zip(row, "xyz"):
            if coef == 0:
                continue
            sign = "-" if coef < 0 else ("+" if s else "")
            s += sign + ("" if abs(coef) == 1 else str(abs(coef))) + name
        frac = Fraction(float(t) % 1.0).limit_denominator(12)
        if frac != 0:
            s += f"+{frac.numerator}/{frac.denominator}"
        terms.append(s or "0")
    return ",".join(terms)


def _hm_full(t: SymmetricTemplate) -> str:
    try:
        import spglib

        return spglib.get_spacegroup_type(t.hall_number).international
    except Exception:  # P1 templates or spglib missing: the short symbol
        return t.symbol


def _formula_sum(t: SymmetricTemplate) -> str:
    counts: dict[int, float] = {}
    for o in t.orbits:
        for z, occ in o.species:
            counts[z] = counts.get(z, 0.0) + occ * o.multiplicity
    zf = t.formula_units()
    parts = []
    for z in sorted(counts, key=lambda v: SYMBOLS[v]):
        n = counts[z] / zf
        parts.append(SYMBOLS[z] + ("" if abs(n - 1) < 1e-6 else f"{n:g}"))
    return " ".join(parts)


def template_cif(t: SymmetricTemplate, name: str = "pxrdsolve", refinement: dict[str, Any] | None = None) -> str:
    """CIF text of ``t``; ``refinement`` may hold ``wavelength_angstrom``, ``size_angstrom``,
    ``zero_shift_deg``, ``r_wp``, ``r_p``, ``gof``, ``source``, ``label``, ``software`` and
    ``march_dollase`` (``{"r": r, "hkl": [H, K, L]}`` or None)."""
    r = refinement or {}
    a, b, c, al, be, ga = (float(v) for v in t.cell)
    vol = abs(float(np.linalg.det(t.conventional_lattice())))
    lines = [f"data_{name}", f"_audit_creation_method '{r.get('software', 'pxrdsolve')}'",
             f"_chemical_formula_sum '{_formula_sum(t)}'",
             f"_symmetry_space_group_name_H-M '{_hm_full(t)}'", f"_space_group_name_H-M_alt '{_hm_full(t)}'",
             f"_space_group_IT_number {t.number}", f"_symmetry_Int_Tables_number {t.number}",
             f"_space_group_crystal_system {t.crystal_system}",
             f"_cell_length_a {a:.6f}", f"_cell_length_b {b:.6f}", f"_cell_length_c {c:.6f}",
             f"_cell_angle_alpha {al:.4f}", f"_cell_angle_beta {be:.4f}", f"_cell_angle_gamma {ga:.4f}",
             f"_cell_volume {vol:.4f}", f"_cell_formula_units_Z {t.formula_units()}"]
    if "wavelength_angstrom" in r:
        lines.append(f"_diffrn_radiation_wavelength {float(r['wavelength_angstrom']):.6f}")
    if "zero_shift_deg" in r:
        lines.append(f"_pd_calib_2theta_offset {float(r['zero_shift_deg']):.5f}")
    md = r.get("march_dollase")
    if md:
        hkl = " ".join(str(int(v)) for v in md["hkl"])
        lines.append(f"_pd_proc_ls_pref_orient_corr 'March-Dollase ratio r = {float(md['r']):.4f} along [{hkl}] "
                     "(reciprocal lattice, this cell)'")
    for key, tag in (("r_wp", "_pd_proc_ls_prof_wR_factor"), ("r_p", "_pd_proc_ls_prof_R_factor"),
                     ("gof", "_refine_ls_goodness_of_fit_all")):
        if key in r and r[key] is not None and math.isfinite(float(r[key])):
            lines.append(f"{tag} {float(r[key]):.5f}")
    if "size_angstrom" in r:
        tau = float(r["size_angstrom"])
        lines.append(f"_pxrdsolve_size_tau_angstrom {tau:.3f}" if math.isfinite(tau)
                     else "_pxrdsolve_size_tau_angstrom .")
    if md:
        lines.append(f"_pxrdsolve_march_dollase_ratio {float(md['r']):.5f}")
        lines.append(f"_pxrdsolve_march_dollase_hkl '{' '.join(str(int(v)) for v in md['hkl'])}'")
    for key in ("source", "label"):
        if key in r:
            lines.append(f"_pxrdsolve_candidate_{key} '{str(r[key]).replace(chr(39), '')}'")
    lines += ["", "loop_", "_space_group_symop_operation_xyz"]
    lines += [f"  '{symop_xyz(rot, tr)}'" for rot, tr in zip(t.rotations, t.translations)]
    lines += ["", "loop_", "_atom_site_label", "_atom_site_type_symbol", "_atom_site_symmetry_multiplicity",
              "_atom_site_Wyckoff_symbol", "_atom_site_fract_x", "_atom_site_fract_y", "_atom_site_fract_z",
              "_atom_site_U_iso_or_equiv", "_atom_site_occupancy"]
    counter: dict[str, int] = {}
    for o in t.orbits:
        x, y, z = (float(v) % 1.0 for v in o.position)
        u_iso = o.b_iso / (8.0 * math.pi**2)
        for zz, occ in o.species:
            sym = SYMBOLS[zz]
            counter[sym] = counter.get(sym, 0) + 1
            lines.append(f"  {sym}{counter[sym]} {sym} {o.multiplicity} {o.wyckoff} {x:.6f} {y:.6f} {z:.6f} "
                         f"{u_iso:.5f} {occ:.4f}")
    return "\n".join(lines) + "\n"
