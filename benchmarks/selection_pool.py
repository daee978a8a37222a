"""Dump the refined candidate pool of ``evaluate --realistic`` cases for offline model-selection studies.

For each case (same generator and seed as ``evaluate --realistic``; the solver gets the pattern file, the reduced
formula, Z and size auto, the shipped library without the case's own formula) the ``--pool`` candidates with the
lowest penalised χ² are written with χ², parameter count, R_wp,net, r_excess, the lag-1 autocorrelation of the
weighted residuals, space group and whether each matches the reference (evaluation tolerances).  A ranking rule
can then be tried on the stored pools without re-solving.  Use validation rows for calibration, never test rows.
Resumable (cases already in OUT are skipped).

    python benchmarks/selection_pool.py ../shared/data/mp_20/cdvae_mp20_pilot_val1000.csv OUT.jsonl --first 80 --seed 1
    python benchmarks/selection_pool.py --analyse OUT.jsonl    # top-1 and verdict per (κ_max, significance)

The analysis re-ranks the stored distinct structures by χ² + κ s² P ln(N/κ) (``pxrdsolve.solve.selection``) and
applies the verdict's rules (excess ≤ 0.15, R_wp margin ≥ 0.5, significance ≥ T), for a grid of κ_max and T.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path


def _replay(cases: list[dict], kappa_max: float, min_sig: float, margin: float = 0.5, excess: float = 0.15) -> dict:
    """Top-1, top-10 and `solved` counts when the stored pools are ranked and judged with these settings."""
    import numpy as np

    from pxrdsolve.solve.selection import correlation_factor, noise_scale, penalised_chi2

    out = dict(n=len(cases), top1=0, top10=0, solved=0, solved_right=0)
    for c in cases:
        pool = {p["index"]: p for p in c["pool"]}
        reps = [pool[x["index"]] for x in c["ranked"] if x["index"] in pool]
        if not reps:
            continue
        chi2 = np.array([p["chi2"] for p in c["pool"]])
        params = np.array([p["params"] for p in c["pool"]])
        kappa = correlation_factor(chi2, np.array([p["lag1"] for p in c["pool"]]), kappa_max)
        s2 = noise_scale(chi2, params, c["n_points"])
        score = {p["index"]: float(v) for p, v in
                 zip(reps, penalised_chi2(np.array([p["chi2"] for p in reps]), np.array([p["params"] for p in reps]),
                                          c["n_points"], scale=s2, correlation=kappa))}
        reps.sort(key=lambda p: score[p["index"]])
        best = reps[0]
        out["top1"] += best["match"]
        out["top10"] += any(p["match"] for p in reps[:10])
        if len(reps) > 1:
            gap = (reps[1]["r_wp_net"] - best["r_wp_net"]) / best["r_wp_net"]
            sig = (score[reps[1]["index"]] - score[best["index"]]) / (kappa * s2)
        else:
            gap = sig = float("inf")
        if best["r_excess"] <= excess and gap >= margin and sig >= min_sig:
            out["solved"] += 1
            out["solved_right"] += best["match"]
    return out


def analyse(path: Path) -> None:
    cases = {}
    for line in path.read_text().splitlines():
        if line.strip():
            c = json.loads(line)
            cases.setdefault(c["index"], c)
    rows = list(cases.values())
    print("kappa_max  min_significance  n  top1  top10  solved  right  precision  recall")
    for kappa_max in (1.0, 10.0, 20.0, 50.0):
        for min_sig in (0.0, 50.0, 100.0):
            r = _replay(rows, kappa_max, min_sig)
            prec = r["solved_right"] / max(r["solved"], 1)
            rec = r["solved_right"] / max(r["top1"], 1)
            print(f"{kappa_max:9.0f}  {min_sig:16.0f}  {r['n']}  {r['top1']:4d}  {r['top10']:5d}  {r['solved']:6d}  "
                  f"{r['solved_right']:5d}  {prec:9.1%}  {rec:6.1%}")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--analyse":
        analyse(Path(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--first", type=int, default=80)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--step", type=int, default=1, help="every STEP-th row from START (for sharding)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pool", type=int, default=40)
    args = ap.parse_args()

    import numpy as np
    import torch

    from pxrdsolve.evaluate.metrics import match
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
    case_dir = Path(tempfile.mkdtemp(prefix="pxrdsolve_pool_"))
    for idx in range(args.start, min(args.first, len(rows)), args.step):
        if idx in done:
            continue
        t = realistic_target(idx, rows[idx], rows, args.seed, case_dir)
        t0 = time.perf_counter()
        r = solve_pattern(t.pattern, t.formula, size="auto", z="auto", library=library)
        seconds = time.perf_counter() - t0
        m = r.refined.metrics_after
        order = [int(b) for b in np.argsort(m["score"], kind="stable") if np.isfinite(m["chi2"][b])][: args.pool]
        pool = []
        for b in order:
            rec = r.refined.record(b)
            s = _structure_from_arrays(rec.lattice, rec.frac, rec.atomic_numbers, rec.occupancy)
            tpl = r.refined.templates[b]
            pool.append(dict(index=b, chi2=float(m["chi2"][b]), params=float(m["model_params"][b]),
                             r_wp_net=float(m["r_wp_net"][b]), r_excess=float(m["r_excess"][b]),
                             lag1=float(m["residual_lag1"][b]), space_group=int(tpl.number),
                             crystal_system=tpl.crystal_system, match=bool(match(t.structure, s).matched)))
        ranked = [dict(index=c.index, space_group=c.space_group_number) for c in r.ranked]
        out = dict(index=idx, formula=t.formula, size_bin=t.info["size_bin"], radiation=t.info["radiation"],
                   space_group=int(rows[idx].get("spacegroup.number") or 0), n_points=int(len(r.q_inv_angstrom)),
                   has_noise_model=r.weighting in ("esd", "poisson"), verdict=r.verdict.label,
                   ranked=ranked, pool=pool, seconds=seconds, code_version=code_version())
        with args.out.open("a") as f:
            f.write(json.dumps(out) + "\n")
        top = next((i for i, c in enumerate(ranked) if any(p["match"] and p["index"] == c["index"] for p in pool)),
                   None)
        print(idx, t.formula, "rank", top, r.verdict.label, f"{seconds:.0f}s", flush=True)


if __name__ == "__main__":
    main()
