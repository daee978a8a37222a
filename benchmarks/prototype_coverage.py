"""Coverage of prototype candidates on PXRDNet's MP-20 test set (formula and Z known).

    python benchmarks/prototype_coverage.py [--library out/prototypes_holdout.h5] [--rows 0:200]
                                            [--max-candidates 1000] [--workers 2] [--json out/coverage.json]

For each test row: Z from the test cell's atom count, ``prototype_candidates`` (prior order), and the
rank of the first candidate that pymatgen ``StructureMatcher(stol=0.5, ltol=0.3, angle_tol=10)``
matches to the test structure.  Reports the share with any match, the median rank and the share
within the first 30/100/300, by crystal system, plus the volume error of the matching candidate.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from pxrdsolve.library.store import load_library  # noqa: E402
from pxrdsolve.solve.candidates_prototype import prototype_candidates  # noqa: E402
from pxrdsolve.solve.types import Composition  # noqa: E402

TEST_CSV = Path("/work/shared/data/mp_20/pxrdnet_test_1130.csv")
_LIB = None
_ARGS: dict = {}


def crystal_system(sg: int) -> str:
    for top, name in ((2, "triclinic"), (15, "monoclinic"), (74, "orthorhombic"), (142, "tetragonal"),
                      (167, "trigonal"), (194, "hexagonal"), (230, "cubic")):
        if sg <= top:
            return name
    return "?"


def evaluate(row: dict) -> dict:
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.cif import CifParser

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        target = CifParser.from_str(row["cif"]).parse_structures(primitive=False)[0]
        comp = target.composition
        reduced, factor = comp.get_reduced_composition_and_factor()
        amounts = tuple((el.symbol, int(round(n))) for el, n in reduced.items())
        composition = Composition(amounts, (int(round(factor)),))
        t0 = time.perf_counter()
        cands = prototype_candidates(composition, _LIB, max_candidates=_ARGS["max_candidates"],
                                     exclude_formula=_ARGS["exclude_formula"])
        t_gen = time.perf_counter() - t0
        matcher = StructureMatcher(stol=0.5, ltol=0.3, angle_tol=10)
        rank, vol_err = None, None
        for k, c in enumerate(cands):
            s = Structure(Lattice(c.record.lattice), c.record.atomic_numbers.tolist(), c.record.frac)
            if matcher.fit(s, target):
                rank = k + 1
                vol_err = abs(np.linalg.det(c.record.lattice)) / target.volume - 1.0
                break
    sg = int(float(row.get("spacegroup.number") or 0))
    return {"id": row["material_id"], "formula": comp.reduced_formula, "natoms": len(target), "sg": sg,
            "system": crystal_system(sg), "n_candidates": len(cands), "rank": rank, "volume_error": vol_err,
            "seconds_candidates": t_gen}


def init(args: dict) -> None:
    global _LIB, _ARGS
    _ARGS = args
    _LIB = load_library(args["library"])


def summarise(results: list[dict]) -> dict:
    n = len(results)
    ranks = [r["rank"] for r in results if r["rank"] is not None]
    out = {"materials": n, "matched": len(ranks), "match_share": len(ranks) / n,
           "median_rank_of_matched": statistics.median(ranks) if ranks else None,
           "within": {k: sum(r <= k for r in ranks) / n for k in (1, 10, 30, 100, 300)},
           "median_candidates": statistics.median(r["n_candidates"] for r in results),
           "max_seconds_candidates": max(r["seconds_candidates"] for r in results),
           "median_seconds_candidates": statistics.median(r["seconds_candidates"] for r in results)}
    errs = [abs(r["volume_error"]) for r in results if r["volume_error"] is not None]
    out["median_abs_volume_error_of_match"] = statistics.median(errs) if errs else None
    by = {}
    for r in results:
        by.setdefault(r["system"], []).append(r["rank"] is not None)
    out["by_system"] = {k: f"{sum(v)}/{len(v)}" for k, v in sorted(by.items())}
    big = [r["rank"] is not None for r in results if r["natoms"] >= 13]
    out["cells_13_20_atoms"] = f"{sum(big)}/{len(big)}"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--library", default=str(ROOT / "out/prototypes_holdout.h5"))
    ap.add_argument("--csv", default=str(TEST_CSV))
    ap.add_argument("--rows", default="0:200")
    ap.add_argument("--max-candidates", type=int, default=1000)
    ap.add_argument("--exclude-formula", action="store_true", help="drop templates of the target's formula")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override a weight of pxrdsolve.solve.candidates_prototype (for tuning)")
    ap.add_argument("--json", default=None, help="write per-material results and the summary here")
    a = ap.parse_args()
    import pxrdsolve.solve.candidates_prototype as cp

    for item in a.set:
        name, value = item.split("=")
        setattr(cp, name, type(getattr(cp, name))(value))
    start, stop = (int(x) for x in a.rows.split(":"))
    csv.field_size_limit(sys.maxsize)
    with open(a.csv, newline="") as fh:
        rows = list(csv.DictReader(fh))[start:stop]
    args = {"library": a.library, "max_candidates": a.max_candidates, "exclude_formula": a.exclude_formula}
    t0 = time.perf_counter()
    if a.workers > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(a.workers, initializer=init, initargs=(args,)) as pool:
            results = pool.map(evaluate, rows, chunksize=1)
    else:
        init(args)
        results = [evaluate(r) for r in rows]
    summary = summarise(results)
    summary.update(overrides=a.set, rows=a.rows, library=a.library, max_candidates=a.max_candidates,
                   seconds=round(time.perf_counter() - t0, 1))
    print(json.dumps(summary, indent=2))
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps({"summary": summary, "results": results}, indent=1))


if __name__ == "__main__":
    main()
