"""Files of a solve, each written atomically into the output folder:

* ``rank01.cif`` … ``rank10.cif`` - refined structures, symmetrised (pymatgen ``SpacegroupAnalyzer``
  + ``CifWriter``, first symprec of 0.01, 0.03, 0.1 Å that finds more than P1) or P1 (``p1=True``);
* ``results.h5`` - every candidate (source, label, refined lattice/frac/Z, parameters, metrics
  before and after), observed/calculated patterns of the top 10, the configuration JSON,
  ``format_version`` and ``kind="pxrdsolve.results"``;
* ``summary.json`` - verdict and top candidates (formula, space group, lattice, R_wp, source);
* ``fit.png`` - observed, calculated, difference and reflection ticks of the best candidate.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from pxrdsolve import __version__
from pxrdsolve.io.atomic import atomic_path, write_text_atomic
from pxrdsolve.io.hashing import content_hash
from pxrdsolve.io.patterns_h5 import json_dumps
from pxrdsolve.solve.cif_out import ranked_cif_text
from pxrdsolve.version import code_version

RESULTS_KIND = "pxrdsolve.results"
RESULTS_FORMAT_VERSION = 1
SYMPRECS = (0.01, 0.03, 0.1)


def cif_text(record, p1: bool = False) -> str:
    """CIF of a crystal record: symmetrised (loosest symprec needed to leave P1) unless ``p1``."""
    from pymatgen.io.cif import CifWriter

    from pxrdsolve.solve.rank import record_to_structure, space_group_of

    structure = record_to_structure(record)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not p1:
            for prec in SYMPRECS:
                if space_group_of(structure, prec)[1] > 1:
                    try:
                        return str(CifWriter(structure, symprec=prec))
                    except Exception:  # fall back to the next tolerance, then P1
                        continue
        return str(CifWriter(structure))


def write_cifs(result, out_dir: Path, p1: bool = False) -> list[Path]:
    """``rankNN.cif`` for each ranked structure; stale higher ranks from an earlier run are removed."""
    paths = []
    for r in result.ranked:
        path = out_dir / f"rank{r.rank:02d}.cif"
        write_text_atomic(path, ranked_cif_text(result, r, p1))
        paths.append(path)
    for old in out_dir.glob("rank*.cif"):
        if old not in paths:
            old.unlink()
    return paths


def _input_hashes(inputs: dict) -> dict[str, str | None]:
    """sha256 of the pattern, library and checkpoint files a solve used (None where not a file)."""
    from pxrdsolve.io.provenance import sha256_path

    out: dict[str, str | None] = {}
    for key in ("pattern", "library", "checkpoint"):
        value = inputs.get(key)
        if isinstance(value, str) and value:
            out[key] = sha256_path(value) if Path(value).is_file() else None
    for i, cand in enumerate(inputs.get("candidates") or []):
        out[f"candidate {i}: {cand}"] = sha256_path(cand) if Path(str(cand)).exists() else None
    return out


def write_results_h5(result, path: Path) -> None:
    """``results.h5`` (see module docstring); ragged atoms stored flat with ``num_atoms`` offsets."""
    import h5py

    ref = result.refined
    cands = result.candidates
    str_dt = h5py.string_dtype("utf-8")
    with atomic_path(path, ".h5") as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs["kind"] = RESULTS_KIND
        h5.attrs["format_version"] = RESULTS_FORMAT_VERSION
        h5.attrs["config"] = json_dumps(result.config)
        h5.attrs["summary"] = json_dumps(result.to_json())
        h5.attrs["software_version"] = __version__
        h5.attrs["code_version"] = code_version()
        h5.attrs["input_sha256"] = json_dumps(_input_hashes(result.inputs))
        g = h5.create_group("candidates")
        g["source"] = np.array([c.source for c in cands], dtype=object).astype(str_dt)
        g["label"] = np.array([c.label for c in cands], dtype=object).astype(str_dt)
        g["meta"] = np.array([json_dumps(c.meta) for c in cands], dtype=object).astype(str_dt)
        g["num_atoms"] = np.array([len(c.record.atomic_numbers) for c in cands], dtype=np.int32)
        g["atomic_numbers"] = np.concatenate([np.asarray(c.record.atomic_numbers) for c in cands]).astype(np.int16)
        g["occupancy"] = np.concatenate([np.asarray(c.record.occupancy, float) for c in cands])
        g["lattice_start"] = np.stack([np.asarray(c.record.lattice, float) for c in cands])
        g["frac_start"] = np.concatenate([np.asarray(c.record.frac, float) for c in cands])
        g["lattice"] = ref.lattice
        g["frac"] = np.concatenate(ref.frac)
        g["size_angstrom"] = ref.size_angstrom
        g["zero_shift_deg"] = ref.zero_shift_deg
        g["scale"] = ref.scale
        g["background_coeffs"] = ref.background_coeffs
        g["num_params"] = ref.num_params
        g["stage"] = np.array(ref.stage, dtype=object).astype(str_dt)
        if ref.templates:  # each candidate in its space group: the same model the CIFs are written from
            g["space_group_number"] = np.array([t.number for t in ref.templates], dtype=np.int16)
            g["space_group"] = np.array([t.symbol for t in ref.templates], dtype=object).astype(str_dt)
            g["cell_conventional"] = np.stack([t.cell for t in ref.templates])  # a, b, c Å; α, β, γ degrees
            g["z"] = np.array([t.formula_units() for t in ref.templates], dtype=np.int16)
        for name, values in ref.metrics_before.items():
            g[f"metrics_before/{name}"] = values
        for name, values in ref.metrics_after.items():
            g[f"metrics/{name}"] = values
        p = h5.create_group("patterns")
        p["q_inv_angstrom"] = result.q_inv_angstrom
        p["observed"] = result.observed
        if result.two_theta_deg is not None:
            p["two_theta_deg"] = result.two_theta_deg
        top = [r.index for r in result.ranked]
        p["top_index"] = np.asarray(top, dtype=np.int64)
        p["calculated"] = ref.calculated[top] if top else np.zeros((0, result.observed.size))
        p["background"] = ref.background[top] if top else np.zeros((0, result.observed.size))
        h5.flush()
        h5.attrs["content_sha256"] = content_hash(h5)  # datasets + config (pxrdsolve.io.hashing)


def plot_fit(result, path: Path) -> None:
    """``fit.png``: observed, calculated, difference and reflection ticks of the best candidate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from pxrdsolve.crystal import batch_from_records
    from pxrdsolve.diffraction.peaks import compute_peaks

    best = result.best
    if best is None:
        return
    two_theta = result.two_theta_deg is not None
    x = result.two_theta_deg if two_theta else result.q_inv_angstrom
    y = result.observed
    calc = result.refined.calculated[best.index]
    diff = y - calc
    fig, ax = plt.subplots(figsize=(9, 5))
    ax.plot(x, y, ".", ms=2, color="k", label="observed")
    ax.plot(x, calc, "-", lw=1.2, color="tab:red", label="calculated")
    ax.plot(x, result.refined.background[best.index], "-", lw=0.8, color="tab:green", label="background")
    offset = y.min() - 0.1 * np.ptp(y)
    ax.plot(x, diff + offset - diff.max(), "-", lw=0.8, color="tab:blue", label="difference")
    peaks = compute_peaks(batch_from_records([best.record]), result.wavelength_angstrom,
                          float(result.q_inv_angstrom[-1]))
    with torch.no_grad():
        q = peaks.q_inv_angstrom.numpy()
    q = q[(q >= result.q_inv_angstrom[0]) & (q <= result.q_inv_angstrom[-1])]
    if two_theta:
        q = np.degrees(2 * np.arcsin(q * result.wavelength_angstrom / (4 * np.pi))) + best.zero_shift_deg
    tick_y = offset - np.ptp(diff) - 0.03 * np.ptp(y)
    ax.plot(q, np.full_like(q, tick_y), "|", ms=8, color="tab:purple", label="reflections")
    ax.set_xlabel("2θ (degrees)" if two_theta else "Q (Å⁻¹)")
    ax.set_ylabel("intensity")
    m = best.metrics
    ax.set_title(f"#{best.rank} {best.formula} {best.space_group} ({best.candidate.source}): "
                 f"R_wp {m['r_wp']:.3f}, R_p {m['r_p']:.3f} - {result.verdict.label}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def write_outputs(result, out_dir: str | Path, p1: bool = False, plot: bool = True) -> dict[str, str]:
    """Write every output file into ``out_dir`` (created); returns name → path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {p.name: str(p) for p in write_cifs(result, out, p1)}
    write_results_h5(result, out / "results.h5")
    files["results.h5"] = str(out / "results.h5")
    write_text_atomic(out / "summary.json", json_dumps(result.to_json()) + "\n")
    files["summary.json"] = str(out / "summary.json")
    if plot:
        plot_fit(result, out / "fit.png")
        files["fit.png"] = str(out / "fit.png")
    return files
