"""Re-solve chosen cases of ``evaluate --realistic`` (same generator, same seed) and write one JSON line per case.

For comparing a code change with a stored ``--realistic`` run on the cases that matter (e.g. its misses) without
rerunning all of it.  The solver gets what ``evaluate`` gives it: the pattern file, the reduced formula, Z and
size auto, the shipped library without the case's own formula.  Resumable (cases already in OUT are skipped).

    python benchmarks/realistic_subset.py ../shared/data/mp_20/pxrdnet_test_1130.csv OUT.jsonl 5,7,9 [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("indices", help="comma-separated row indices")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import torch

    from pxrdsolve.evaluate.metrics import first_match
    from pxrdsolve.evaluate.realistic import realistic_target
    from pxrdsolve.evaluate.run import _load_library, held_out_source
    from pxrdsolve.io.structures import _structure_from_arrays
    from pxrdsolve.solve.pipeline import solve_pattern
    from pxrdsolve.version import code_version

    torch.set_num_threads(1)
    csv.field_size_limit(10**9)
    rows = list(csv.DictReader(args.csv.open()))
    done = set()
    if args.out.exists():
        done = {json.loads(line)["index"] for line in args.out.read_text().splitlines() if line.strip()}
    library = held_out_source(_load_library(None))
    case_dir = Path(tempfile.mkdtemp(prefix="pxrdsolve_cases_"))
    for idx in (int(x) for x in args.indices.split(",")):
        if idx in done:
            continue
        t = realistic_target(idx, rows[idx], rows, args.seed, case_dir)
        t0 = time.perf_counter()
        r = solve_pattern(t.pattern, t.formula, size="auto", z="auto", library=library)
        seconds = time.perf_counter() - t0
        structures = [_structure_from_arrays(c.record.lattice, c.record.frac, c.record.atomic_numbers,
                                             c.record.occupancy) for c in r.ranked[:10]]
        rank, _ = first_match(t.structure, structures)
        rec = dict(index=idx, formula=t.formula, size_bin=t.info["size_bin"], radiation=t.info["radiation"],
                   rank=rank, top1=rank == 0, verdict=r.verdict.label, excess=r.verdict.best_excess,
                   margin=r.verdict.margin, r_wp=r.ranked[0].metrics["r_wp"], seconds=seconds,
                   code_version=code_version())
        with args.out.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
