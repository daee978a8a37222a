"""How often the enumerated direct-space source proposes the right structure type, without solving anything.

    python benchmarks/enumeration_coverage.py CSV OUT.jsonl [--first 100] [--n 150] [--split SPLIT.json]

For the first ``--first`` rows of CSV (use validation rows for choosing settings: CDVAE MP-20 val), the
prototype-held-out library of each material (its structure type and every matching template removed, as
``benchmarks/prototype_heldout.py`` builds it; written to ``--split``, default next to OUT) supplies the priors,
and :func:`pxrdsolve.solve.candidates_enumerate.enumerated_candidates` proposes ``--n`` structures from the
reduced formula (Z auto).  A proposal has the target's *type* when spglib (0.01 Å) finds the same space group
and, per element, the same Wyckoff multiplicities, and the same number of free coordinates.  One JSON line per
material: the target's space group, free coordinates, and the position of the first proposal of its type
(null if none); ``--temperature``/``--min-prior`` set the prior's flattening and cut; at the end,
coverage at n = 10, 30, 100, 150, … by the target's free coordinates.  Resumable.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def type_key(template) -> tuple:
    per: dict[int, list[int]] = defaultdict(list)
    for o in template.orbits:
        for z, _ in o.species:
            per[int(z)].append(int(o.multiplicity))
    return (template.number, tuple(sorted((z, tuple(sorted(m))) for z, m in per.items())),
            template.num_free_coordinates)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--first", type=int, default=100)
    ap.add_argument("--n", type=int, default=150)
    ap.add_argument("--split", type=Path, default=None)
    ap.add_argument("--temperature", type=float, default=None, help="EnumerateConfig.prior_temperature")
    ap.add_argument("--min-prior", type=float, default=None, help="EnumerateConfig.min_relative_prior")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    from dataclasses import replace

    from prototype_heldout import build_split, read_rows, sha256_file

    from pxrdsolve.io.structures import _parse_cif, structure_to_record
    from pxrdsolve.library.holdout import without_entries
    from pxrdsolve.library.store import load_library
    from pxrdsolve.solve.candidates_enumerate import EnumerateConfig, enumerated_candidates
    from pxrdsolve.solve.formula import parse_formula
    from pxrdsolve.structure.template import symmetric_template

    config = EnumerateConfig()
    if args.temperature is not None:
        config = replace(config, prior_temperature=args.temperature)
    if args.min_prior is not None:
        config = replace(config, min_relative_prior=args.min_prior)
    library = load_library()
    rows = read_rows(args.csv, args.first)
    split = build_split(rows, library, args.split or args.out.with_suffix(".split.json"), sha256_file(args.csv))
    ids = {str(v): i for i, v in enumerate(library.entries["id"].tolist())}
    done = set()
    if args.out.exists():
        done = {json.loads(x)["index"] for x in args.out.read_text().splitlines() if x.strip()}
    with args.out.open("a") as fh:
        for mat in split["materials"]:
            if "error" in mat or mat["index"] in done:
                continue
            row = rows[mat["index"]]
            target = symmetric_template(structure_to_record(_parse_cif(row["cif"])), 0.01)
            key = type_key(target)
            held = without_entries(library, [ids[x] for x in mat["removed_ids"] if x in ids])
            t0 = time.perf_counter()
            cands = enumerated_candidates(parse_formula(row.get("pretty_formula") or mat["formula"], z="auto"),
                                          args.n, library=held, config=config)
            dt = time.perf_counter() - t0
            pos = next((i for i, c in enumerate(cands) if c.meta["space_group"] == target.number
                        and type_key(symmetric_template(c.record, 0.01)) == key), None)
            rec = {"index": mat["index"], "id": mat["id"], "formula": mat["formula"], "space_group": target.number,
                   "free": target.num_free_coordinates, "n": len(cands), "position": pos, "seconds": round(dt, 2)}
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
            print(rec, file=sys.stderr)
    recs = [json.loads(x) for x in args.out.read_text().splitlines() if x.strip()]
    for lo, hi, name in ((0, 0, "0 free"), (1, 1, "1 free"), (2, 2, "2 free"), (3, 999, "≥3 free")):
        rs = [r for r in recs if lo <= r["free"] <= hi]
        cov = {k: sum(r["position"] is not None and r["position"] < k for r in rs) for k in (10, 30, 100, args.n)}
        print(f"{name}: {len(rs)} materials; type proposed within " +
              ", ".join(f"{k}: {v}" for k, v in cov.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
