"""Prototype-held-out benchmark: what each candidate source adds where the library cannot help.

    python benchmarks/prototype_heldout.py --out out/heldout [--split-size 100] [--solve 20]
        [--size 10] [--direct 200] [--configs library,library+direct,direct] [--seed 0]
        [--split benchmarks/prototype_heldout_split.json] [--test-csv PATH] [--library PATH]

Split: for the first ``--split-size`` rows of PXRDNet's MP-20 test split (test materials only, never
training rows), every library entry of the material's structure type is removed: same space group
and Wyckoff letters (spglib at the library's symprec 0.1), plus every entry of the same anonymous
formula that ``StructureMatcher.fit_anonymous`` (ltol 0.3, stol 0.5, angle 10°) maps onto it.  The
split (removed entry ids per material, with the library's content hash) is written once to
``--split`` (or ``OUT/split.json``) and reused when its library and CSV hashes still match.

Solve: for the first ``--solve`` materials of the split, the PXRDNet-preset input pattern at τ =
``--size`` Å (``pxrdsolve.evaluate.targets.pxrdnet_target``, seed ``--seed``), the reduced formula
and ``z="auto"`` as a user gives them, size ``auto`` unless ``--size-given``, the known instrument
Gaussian, no generative model; configurations:

* ``library``: the held-out library only;
* ``library+direct``: the same plus ``--direct`` direct-space candidates (``candidates=``);
* ``direct``: direct-space candidates only.

Each (material, configuration) is scored with ``pxrdsolve.evaluate.harness.score`` (pymatgen
StructureMatcher stol 0.5, angle_tol 10, ltol 0.3 on the refined top 10) and written at once to
``OUT/materials/NNNNN_ID_CONFIG.json``: a killed run resumes where it stopped.  ``OUT/summary.json``
and a Markdown table give top-1/top-10 per configuration, the source of each match, and solve time.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

TEST_CSV = Path("/work/shared/data/mp_20/pxrdnet_test_1130.csv")
CONFIGS = ("library", "library+direct", "direct")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_rows(path: Path, first: int) -> list[dict[str, str]]:
    csv.field_size_limit(2**31 - 1)
    with open(path, newline="") as fh:
        rows = []
        for i, row in enumerate(csv.DictReader(fh)):
            if i >= first:
                break
            rows.append(row)
    return rows


def build_split(rows, library, split_path: Path, csv_sha: str) -> dict:
    """Removed entries per material; resumable (written after every material)."""
    from pxrdsolve.io.atomic import write_text_atomic
    from pxrdsolve.io.structures import _parse_cif
    from pxrdsolve.library.holdout import held_out_entries, structure_type

    lib_sha = str(library.config.get("content_sha256") or _library_sha(library))
    split = {"library_sha256": lib_sha, "test_csv_sha256": csv_sha, "match_structures": True, "materials": []}
    if split_path.exists():
        old = json.loads(split_path.read_text())
        if old.get("library_sha256") == lib_sha and old.get("test_csv_sha256") == csv_sha:
            split = old
        else:
            print(f"{split_path}: built for another library or CSV; rebuilding", file=sys.stderr)
    done = {m["index"] for m in split["materials"]}
    for i, row in enumerate(rows):
        if i in done:
            continue
        t0 = time.perf_counter()
        try:
            st = structure_type(row["material_id"], row["cif"])
            drop = held_out_entries(library, st, _parse_cif(row["cif"]), match_structures=True)
            rec = {"index": i, "id": row["material_id"], "formula": row.get("pretty_formula", ""),
                   "space_group": st.space_group, "wyckoff_letters": "".join(st.letters),
                   "n_removed": len(drop), "removed_ids": [str(library.entries["id"][j]) for j in drop.tolist()]}
        except ValueError as exc:
            rec = {"index": i, "id": row["material_id"], "error": str(exc), "removed_ids": []}
        split["materials"].append(rec)
        split["materials"].sort(key=lambda m: m["index"])
        write_text_atomic(split_path, json.dumps(split, indent=1) + "\n")
        print(f"split {i}: {row['material_id']} {rec.get('formula', '')} removed {len(rec['removed_ids'])} "
              f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    return split


def _library_sha(library) -> str:
    import h5py

    with h5py.File(library.path, "r") as h5:
        return str(h5.attrs["content_sha256"])


def solve_one(target, library, config_name: str, args) -> dict:
    from dataclasses import replace

    from pxrdsolve.evaluate.harness import score
    from pxrdsolve.solve.candidates_direct import direct_space_candidates
    from pxrdsolve.solve.formula import parse_formula
    from pxrdsolve.solve.pipeline import SolveConfig, solve_pattern

    cfg = SolveConfig(model_candidates=0)
    obj = replace(cfg.refine.objective, instrument_fwhm_q=target.instrument_fwhm_q)
    cfg = replace(cfg, refine=replace(cfg.refine, objective=obj, seed=args.seed))
    t0 = time.perf_counter()
    extra = []
    if "direct" in config_name:
        comp = parse_formula(target.formula, z="auto")
        extra = direct_space_candidates(comp, args.direct, seed=args.seed + target.index, library=library)
    t_direct = time.perf_counter() - t0
    source = library if "library" in config_name else (lambda composition, n: [])
    result = solve_pattern(target.pattern, target.formula, size=target.size if args.size_given else "auto",
                           z="auto", library=source, candidates=extra, config=cfg)
    seconds = {"direct_candidates": t_direct, **result.seconds, "wall": time.perf_counter() - t0}
    out = score(target, result.ranked, seconds)
    n_by_source: dict[str, int] = {}
    for c in result.candidates:
        n_by_source[c.source] = n_by_source.get(c.source, 0) + 1
    ref_sg = out.get("space_group")
    top = result.ranked[0].candidate if result.ranked else None
    out.update(config=config_name, n_candidates_by_source=n_by_source,
               top1_source=None if top is None else top.source,
               top1_method=None if top is None else top.meta.get("method"),
               direct_with_target_space_group=sum(1 for c in extra if c.meta.get("space_group") == ref_sg),
               direct_space_groups=sorted({int(c.meta["space_group"]) for c in extra}),
               verdict=result.verdict.to_json())
    return out


def summarise(records: list[dict]) -> dict:
    table = {}
    for name in CONFIGS:
        rs = [r for r in records if r.get("config") == name and "error" not in r]
        if not rs:
            continue
        walls = [r["seconds"]["wall"] for r in rs]
        sources: dict[str, int] = {}
        for r in rs:
            if r.get("match_source"):
                sources[r["match_source"]] = sources.get(r["match_source"], 0) + 1
        table[name] = {"n": len(rs), "top1": sum(bool(r["match_top1_standard"]) for r in rs),
                       "top10": sum(bool(r["match_top10_standard"]) for r in rs),
                       "top10_before_refinement": sum(bool(r["match_top10_standard_before"]) for r in rs),
                       "match_source": sources, "median_wall_s": statistics.median(walls),
                       "mean_wall_s": statistics.fmean(walls),
                       "median_rwp2_best10": statistics.median([r["rwp2_best10_after"] for r in rs
                                                                if r.get("rwp2_best10_after") is not None] or [0])}
    return table


def markdown(table: dict) -> str:
    lines = ["| configuration | n | top-1 | top-10 | top-10 before refinement | match source | median R_wp² best-10 "
             "| median / mean solve s |", "|---|---|---|---|---|---|---|---|"]
    for name, t in table.items():
        lines.append(f"| {name} | {t['n']} | {t['top1']} ({100 * t['top1'] / t['n']:.0f} %) | {t['top10']} "
                     f"({100 * t['top10'] / t['n']:.0f} %) | {t['top10_before_refinement']} | "
                     f"{', '.join(f'{k} {v}' for k, v in sorted(t['match_source'].items())) or '–'} | "
                     f"{t['median_rwp2_best10']:.3f} | {t['median_wall_s']:.1f} / {t['mean_wall_s']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--split", type=Path, default=None, help="split JSON (default OUT/split.json)")
    ap.add_argument("--split-size", type=int, default=100)
    ap.add_argument("--solve", type=int, default=20, help="materials of the split to solve")
    ap.add_argument("--size", type=float, default=10.0, help="τ of the simulated pattern, Å")
    ap.add_argument("--size-given", action="store_true", help="give τ to the solver (default: auto)")
    ap.add_argument("--direct", type=int, default=200, help="direct-space candidates per solve")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test-csv", type=Path, default=TEST_CSV)
    ap.add_argument("--library", type=Path, default=None)
    ap.add_argument("--only", default=None, help="comma-separated test-row indices of the split to solve "
                    "(instead of the first --solve)")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")

    from pxrdsolve.evaluate.targets import pxrdnet_target
    from pxrdsolve.io.atomic import write_text_atomic
    from pxrdsolve.library.holdout import without_entries
    from pxrdsolve.library.store import load_library

    configs = [c for c in args.configs.split(",") if c]
    if any(c not in CONFIGS for c in configs):
        ap.error(f"--configs: choose from {', '.join(CONFIGS)}")
    library = load_library(args.library)
    rows = read_rows(args.test_csv, args.split_size)
    split_path = args.split or args.out / "split.json"
    args.out.mkdir(parents=True, exist_ok=True)
    split = build_split(rows, library, split_path, sha256_file(args.test_csv))
    id_to_index = {str(v): i for i, v in enumerate(library.entries["id"].tolist())}
    (args.out / "materials").mkdir(exist_ok=True)
    records = []
    chosen = (split["materials"][: args.solve] if args.only is None else
              [m for m in split["materials"] if str(m["index"]) in set(args.only.split(","))])
    for mat in chosen:
        if "error" in mat:
            continue
        i = mat["index"]
        target = None
        held = None
        for name in configs:
            path = args.out / "materials" / f"{i:05d}_{mat['id']}_{name.replace('+', '_')}.json"
            if path.exists():
                records.append(json.loads(path.read_text()))
                continue
            if target is None:
                target = pxrdnet_target(i, rows[i], args.size, args.seed)
                held = without_entries(library, [id_to_index[x] for x in mat["removed_ids"] if x in id_to_index])
            t0 = time.perf_counter()
            try:
                rec = solve_one(target, held, name, args)
            except Exception as exc:  # noqa: BLE001 - record and go on; a rerun retries it
                print(f"{i} {mat['id']} {name}: {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            rec["n_removed"] = mat["n_removed"]
            write_text_atomic(path, json.dumps(rec, indent=1, default=str) + "\n")
            records.append(rec)
            print(f"{i} {mat['id']} {mat['formula']} {name}: rank {rec['match_rank_standard']} "
                  f"source {rec['match_source']} {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    table = summarise(records)
    info = {"split": str(split_path), "split_materials": len(split["materials"]),
            "solved_materials": len({r["id"] for r in records}), "size_angstrom": args.size,
            "size_given": args.size_given, "direct_candidates": args.direct, "seed": args.seed,
            "tolerances": {"stol": 0.5, "angle_tol": 10, "ltol": 0.3}, "table": table}
    write_text_atomic(args.out / "summary.json", json.dumps(info, indent=1) + "\n")
    print(markdown(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
