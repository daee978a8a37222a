"""Files of a solve, each written atomically into the output folder:

* ``rank01.cif`` … ``rank10.cif`` - refined structures, symmetrised (pymatgen ``SpacegroupAnalyzer``
  + ``CifWriter``, first symprec of 0.01, 0.03, 0.1 Å that finds more than P1) or P1 (``p1=True``);
* ``results.h5`` - every candidate (source, label, refined lattice/frac/Z, parameters, metrics
  before and after), observed/calculated patterns of the top 10, the configuration JSON,
  ``format_version`` and ``kind="pxrdsolve.results"``;
* ``summary.json`` - verdict and top candidates (formula, space group, lattice, R_wp, source);
* ``fit.png`` (best) and ``fit_rank02.png``, ``fit_rank03.png`` - observed (file units), calculated,
  background, difference, reflection ticks with hkl, refined cell, τ and zero shift;
* ``fit.txt`` - observed, calculated, background and difference of the best candidate on the
  original points of the pattern file;
* ``results.txt`` - the results table and the verdict, as the command prints them;
* ``.pxrdsolve-written.json`` - the files this tool wrote here, so that a later run removes only its
  own stale ``rank*.cif`` (never a user's file of that name).
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


MANIFEST = ".pxrdsolve-written.json"
N_FIT_PLOTS = 3


def written_before(out_dir: Path) -> list[str]:
    """Names of the files an earlier run of this tool recorded in ``out_dir`` (empty if none)."""
    import json

    try:
        names = json.loads((out_dir / MANIFEST).read_text()).get("files", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [n for n in names if isinstance(n, str) and "/" not in n and n not in ("", ".", "..")]


def write_cifs(result, out_dir: Path, p1: bool = False) -> list[Path]:
    """``rankNN.cif`` for each ranked structure; ``rank*.cif`` that an earlier run recorded writing
    (see :data:`MANIFEST`) and this run did not rewrite are removed; other files are left alone."""
    paths = []
    for r in result.ranked:
        path = out_dir / f"rank{r.rank:02d}.cif"
        write_text_atomic(path, ranked_cif_text(result, r, p1))
        paths.append(path)
    for name in written_before(out_dir):
        old = out_dir / name
        if name.startswith("rank") and name.endswith(".cif") and old not in paths and old.is_file():
            old.unlink()
    return paths


def results_table_text(result) -> str:
    """The results table (one row per ranked structure) and the verdict line, as plain text."""
    head = ("#", "formula", "space group", "source", "R_wp", "R_wp net", "τ (Å)", "a, b, c (Å)")
    rows = []
    for r in result.ranked:
        lat = r.lattice_parameters()
        rows.append((str(r.rank), r.formula, r.space_group, r.candidate.source, f"{r.metrics['r_wp']:.4f}",
                     f"{r.metrics['r_wp_net']:.4f}", f"{r.size_angstrom:.1f}",
                     f"{lat['a']:.3f}, {lat['b']:.3f}, {lat['c']:.3f}"))
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    out = [f"{len(result.candidates)} candidates refined, {len(result.ranked)} distinct structures, "
           f"{result.seconds['total']:.1f} s", line(head), line(["-" * w for w in widths])]
    out += [line(row) for row in rows]
    for r in result.ranked:  # preferred orientation, where the refinement kept it
        md = result.refined.march_dollase(r.index)
        if md is not None:
            out.append(f"#{r.rank}: March–Dollase texture r = {md['r']:.3f} along [{' '.join(map(str, md['hkl']))}]")
    out.append(verdict_line(result))
    return "\n".join(out) + "\n"


def verdict_line(result) -> str:
    return f"verdict: {result.verdict.label} - {result.verdict.reason}"


def write_fit_text(result, path: Path) -> bool:
    """``fit.txt``: the best candidate on the original points of the pattern file (2θ or Q as read).

    The fit runs on a grid that may average a few neighbouring points; observed values here are the
    file's own, calculated and background are the refined model interpolated linearly in Q from
    the fit grid (points outside the fitted range are left out).  Returns False when the pattern
    file cannot be read again (e.g. a pattern passed as an object)."""
    best = result.best
    src = (result.inputs or {}).get("pattern")
    if best is None or not src or not Path(src).is_file():
        return False
    from pxrdsolve.patterns import read_pattern

    try:
        measured = read_pattern(src, wavelength=(result.inputs or {}).get("wavelength"))
    except Exception:  # noqa: BLE001 - the fit itself already succeeded; this file is optional
        return False
    q = np.asarray(measured.q_inv_angstrom, float)
    keep = (q >= result.q_inv_angstrom[0]) & (q <= result.q_inv_angstrom[-1])
    q = q[keep]
    obs = np.asarray(measured.intensity, float)[keep]
    calc = np.interp(q, result.q_inv_angstrom, result.refined.calculated[best.index])
    bg = np.interp(q, result.q_inv_angstrom, result.refined.background[best.index])
    cols, names = [q], ["Q_inv_angstrom"]
    if measured.two_theta_deg is not None:
        cols.insert(0, np.asarray(measured.two_theta_deg, float)[keep])
        names.insert(0, "two_theta_deg")
    cols += [obs, calc, bg, obs - calc]
    names += ["observed", "calculated", "background", "difference"]
    header = (f"pxrdsolve fit of rank 1: {best.formula} {best.space_group} ({best.candidate.source}); "
              f"R_wp {best.metrics['r_wp']:.4f}; {verdict_line(result)}\n"
              f"pattern {src}: original points (calculated and background interpolated from the fit grid)\n"
              + " ".join(names))
    import io

    buf = io.StringIO()
    np.savetxt(buf, np.column_stack(cols), fmt="%.8g", header=header)
    write_text_atomic(path, buf.getvalue())
    return True


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
        if "march_dollase_r" in ref.profile:  # texture: r (1 = none) and direction hkl (conventional cell)
            from pxrdsolve.solve.texture import HKL_KEYS, R_KEY

            g["march_dollase_r"] = ref.profile[R_KEY]
            g["march_dollase_hkl"] = np.stack([ref.profile[k] for k in HKL_KEYS], -1).round().astype(np.int16)
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


def plot_fits(result, out_dir: Path) -> list[Path]:
    """``fit.png`` for the best candidate and ``fit_rankNN.png`` for the next ones (top
    :data:`N_FIT_PLOTS`), see :func:`~pxrdsolve.patterns.plotting.plot_fit_candidate`."""
    from pxrdsolve.patterns.plotting import plot_fit_candidate

    paths = []
    for r in result.ranked[:N_FIT_PLOTS]:
        name = "fit.png" if r.rank == 1 else f"fit_rank{r.rank:02d}.png"
        paths.append(plot_fit_candidate(result, r, out_dir / name))
    return paths


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
        for p in plot_fits(result, out):
            files[p.name] = str(p)
    for name in written_before(out):  # this tool's own stale plots of ranks no longer there
        if name.startswith("fit_rank") and name.endswith(".png") and name not in files and (out / name).is_file():
            (out / name).unlink()
    if write_fit_text(result, out / "fit.txt"):
        files["fit.txt"] = str(out / "fit.txt")
    write_text_atomic(out / "results.txt", results_table_text(result))
    files["results.txt"] = str(out / "results.txt")
    import json

    mine = sorted(set(files) | {n for n in written_before(out) if (out / n).is_file()})
    write_text_atomic(out / MANIFEST, json.dumps({"tool": "pxrdsolve", "files": mine}, indent=1) + "\n")
    return files
