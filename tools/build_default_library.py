"""Build the shipped prototype library and its composition-held-out twin (for evaluation only).

    python tools/build_default_library.py [--pool CSV] [--test CSV] [--workers 2]

Writes ``src/pxrdsolve/data/prototypes.h5`` (training pool = MP-2025 ≤ 20 sites minus every
``mp20_known_split == "test"`` row and every PXRDNet test id) and ``out/prototypes_holdout.h5``
(additionally without any reduced formula of the PXRDNet test split; not shipped).  The pool is
analysed once and cached in ``out/pool_analysis.pkl``.  Data: Materials Project, CC-BY 4.0.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from pxrdsolve.library.analyse import reduced_formulas_of_csv  # noqa: E402
from pxrdsolve.library.build import analyse_pool, ids_from_csvs, write_library  # noqa: E402

SHARED = Path("/work/shared/data")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pool", default=str(SHARED / "mp_2025_le20_topology/mp2025_le20sites.csv"))
    ap.add_argument("--test", default=str(SHARED / "mp_20/pxrdnet_test_1130.csv"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cap", type=int, default=None, help="shape variants kept per prototype")
    ap.add_argument("--out", default=str(ROOT / "src/pxrdsolve/data/prototypes.h5"))
    ap.add_argument("--holdout-out", default=str(ROOT / "out/prototypes_holdout.h5"))
    ap.add_argument("--cache", default=str(ROOT / "out/pool_analysis.pkl"))
    args = ap.parse_args()
    t0 = time.perf_counter()
    cache = Path(args.cache)
    if cache.exists():
        analysis = pickle.loads(cache.read_bytes())
        print(f"analysis from cache {cache}", file=sys.stderr)
    else:
        analysis = analyse_pool([args.pool], ids_from_csvs([args.test]), ("test",), 20, args.workers)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps(analysis))
    t_analyse = time.perf_counter() - t0
    print(f"analysed in {t_analyse:.0f} s: {analysis.counts}", file=sys.stderr)
    kw = {} if args.cap is None else {"cap_per_prototype": args.cap}
    res = write_library(analysis, args.out, **kw)
    hold = reduced_formulas_of_csv(args.test)
    res_h = write_library(analysis, args.holdout_out, hold, args.test, **kw)
    for r in (res, res_h):
        print(json.dumps({"path": r.path, "size_mb": round(r.size_bytes / 1e6, 2), **r.counts}))
    print(json.dumps({"analyse_seconds": round(t_analyse, 1), "total_seconds": round(time.perf_counter() - t0, 1),
                      "first_failures": [list(f) for f in analysis.failures[:5]]}))


if __name__ == "__main__":
    main()
