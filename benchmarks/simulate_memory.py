"""Bounded memory: ``pxrdsolve simulate`` on N structures (default 10,000) streamed to one HDF5 file.

    python benchmarks/simulate_memory.py [--n 10000] [--grid pxrdnet]

The structures are the shipped examples and their 2×1×1 / 1×2×1 / 2×2×1 supercells with random
isotropic strain (up to ±5 %), written as a CSV with a ``cif`` column.  Prints throughput and the
peak resident memory of the simulate process (``ru_maxrss``) for two batch sizes, so one can see
that memory depends on the batch size, not on N.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def make_csv(path: Path, n: int) -> None:
    from pymatgen.core import Structure

    warnings.simplefilter("ignore")
    bases = [Structure.from_file(p) for p in sorted((HERE.parent / "examples/structures").glob("*.cif"))]
    rng = np.random.default_rng(0)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["material_id", "cif"])
        for i in range(n):
            s = bases[i % len(bases)].copy()
            s.make_supercell([[1, 2][rng.integers(2)], [1, 2][rng.integers(2)], 1])
            s.scale_lattice(s.volume * (1 + rng.uniform(-0.05, 0.05)) ** 3)
            w.writerow([f"s{i}", s.to(fmt="cif")])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--grid", default="pxrdnet")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "structures.csv"
        t = time.perf_counter()
        make_csv(src, args.n)
        print(f"made {args.n} structures in {time.perf_counter() - t:.1f} s")
        for bs in (64, 512):
            out = Path(tmp) / f"p{bs}.h5"
            code = ("import resource, sys; from pxrdsolve.cli.app import main; sys.argv = sys.argv[1:]\n"
                    "try:\n    main()\nexcept SystemExit:\n    pass\n"
                    "print('peak_rss_mb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
            t = time.perf_counter()
            res = subprocess.run([sys.executable, "-c", code, "pxrdsolve", "simulate", str(src), "-o", str(out),
                                  "--grid", args.grid, "--size", "10", "--batch-size", str(bs), "-q"],
                                 capture_output=True, text=True, check=True)
            dt = time.perf_counter() - t
            rss = [ln for ln in res.stdout.splitlines() if ln.startswith("peak_rss_mb")][0].split()[1]
            print(f"batch {bs}: {args.n / dt:.0f} structures/s end to end (CIF parsing included), "
                  f"peak RSS {float(rss):.0f} MB, file {out.stat().st_size / 2**20:.0f} MB")


if __name__ == "__main__":
    main()
