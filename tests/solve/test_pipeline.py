"""End to end: solve_pattern on the shipped SrTiO3 example with a tiny in-test candidate source."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest

from helpers import record
from pxrdsolve.solve.pipeline import SolveConfig, parse_cell, solve_pattern
from pxrdsolve.solve.refine import LatticeStageConfig, PositionStageConfig
from pxrdsolve.solve.types import Candidate
from pxrdsolve.solve.verdict import SOLVED

EXAMPLE = Path(__file__).parents[2] / "examples" / "patterns" / "SrTiO3_10A.xy"
PEROVSKITE_FRAC = [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]


def stand_in_candidates() -> list[Candidate]:
    """Perovskite (cell 3 % too large), A/B-swapped perovskite, and a hexagonal decoy."""
    hexa = record([[5.5, 0, 0], [-2.75, 4.763, 0], [0, 0, 4.2]],
                  [[0, 0, 0], [1 / 3, 2 / 3, 0.5], [0.5, 0, 0.25], [0, 0.5, 0.75], [0.5, 0.5, 0.1]],
                  [38, 22, 8, 8, 8])
    return [Candidate(record(np.eye(3) * 4.02, PEROVSKITE_FRAC, [22, 38, 8, 8, 8]), "prototype", "swapped"),
            Candidate(hexa, "prototype", "hexagonal decoy"),
            Candidate(record(np.eye(3) * 4.02, PEROVSKITE_FRAC, [38, 22, 8, 8, 8]), "prototype", "perovskite")]


def fast_config() -> SolveConfig:
    c = SolveConfig()
    refine = replace(c.refine, top_k=3, restarts=1, lattice=LatticeStageConfig(steps=30),
                     positions=PositionStageConfig(steps=8))
    return replace(c, refine=refine)


@pytest.fixture(scope="module")
def solved():
    return solve_pattern(EXAMPLE, "SrTiO3", size=10.0, library=lambda comp, n: stand_in_candidates(),
                         config=fast_config())


def test_solve_finds_the_perovskite(solved):
    best = solved.best
    assert best.candidate.label == "perovskite"
    assert best.space_group_number == 221
    assert abs(best.lattice_parameters()["a"] - 3.905) < 0.01
    assert solved.verdict.label == SOLVED
    assert best.metrics["r_wp"] < best.metrics_before["r_wp"]
    assert solved.ranked[1].metrics["r_wp"] > 2 * best.metrics["r_wp"]
    assert solved.weighting == "poisson" and solved.two_theta_deg is not None


def test_outputs_exist_and_cifs_parse(solved, tmp_path):
    from pymatgen.io.cif import CifParser

    from pxrdsolve.solve.outputs import write_outputs

    files = write_outputs(solved, tmp_path / "out")
    assert {"rank01.cif", "results.h5", "summary.json", "fit.png"} <= set(files)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = CifParser(files["rank01.cif"]).parse_structures(primitive=False)[0]
    assert s.composition.reduced_formula == "SrTiO3"
    assert abs(s.lattice.a - 3.905) < 0.01
    summary = json.loads(Path(files["summary.json"]).read_text())
    assert summary["verdict"]["label"] == SOLVED and summary["top"][0]["space_group"] == "Pm-3m"
    with h5py.File(files["results.h5"]) as h5:
        assert h5.attrs["kind"] == "pxrdsolve.results" and int(h5.attrs["format_version"]) == 1
        assert h5["candidates/lattice"].shape == (3, 3, 3)
        assert h5["patterns/calculated"].shape[0] == len(solved.ranked)
        assert json.loads(h5.attrs["config"])["refine"]["top_k"] == 3
    assert Path(files["fit.png"]).read_bytes()[:4] == b"\x89PNG"
    p1 = write_outputs(solved, tmp_path / "p1", p1=True, plot=False)
    p1_text = Path(p1["rank01.cif"]).read_text()
    assert "_space_group_IT_number 1\n" in p1_text and p1_text.count("'x,y,z'") == 1
    # table, summary and CIF agree on space group, cell and Z (the CIF is written from the same model)
    text = Path(files["rank01.cif"]).read_text()
    best = solved.ranked[0]
    assert f"_space_group_IT_number {best.space_group_number}\n" in text
    assert f"_cell_formula_units_Z {best.z}\n" in text and summary["top"][0]["z"] == best.z
    assert abs(summary["top"][0]["lattice"]["a"] - s.lattice.a) < 1e-5


def test_cell_hint_parsing():
    assert parse_cell("3.9,3.9,3.9,90,90,90") == (3.9, 3.9, 3.9, 90.0, 90.0, 90.0)
    from pxrdsolve.errors import InputError

    with pytest.raises(InputError):
        parse_cell("3.9,3.9,90")


def test_direct_candidates_solve_what_the_library_lacks():
    # an empty library: only the direct-space source (enumerated arrangements first) can propose the perovskite
    cfg = replace(fast_config(), direct_candidates=16)
    res = solve_pattern(EXAMPLE, "SrTiO3", size=10.0, library=lambda comp, n: [], config=cfg)
    assert {c.source for c in res.candidates} == {"direct"} and len(res.candidates) == 16
    best = res.best
    assert best.candidate.meta["method"] == "enumerated"
    # (on this example the best description is a 2 × 2 × 2 Fm-3m cell with O 0.08 Å off ¼: its two extra
    # parameters absorb the profile misfit of the η = 0.3 instrument; the Pm-3m candidate ranks with it)
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.core import Lattice, Structure

    ref = Structure(Lattice.cubic(3.905), ["Sr", "Ti", "O", "O", "O"], PEROVSKITE_FRAC)
    rec = best.record
    got = Structure(Lattice(rec.lattice), rec.atomic_numbers.tolist(), rec.frac)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert StructureMatcher(ltol=0.2, stol=0.3, angle_tol=5).fit(got, ref)
    assert abs(got.volume / (len(got) / 5) - 3.905**3) < 0.5  # Å³ per formula unit
    rwp = res.refined.metrics_after["r_wp"]  # the Pm-3m perovskite fits too (merged into the same structure)
    assert any(t.number == 221 and rwp[i] < 0.02 for i, t in enumerate(res.refined.templates))
