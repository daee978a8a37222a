"""Scale: ``pxrdsolve simulate --shard i/K`` as K processes, then ``--merge``, on N structures.

    python benchmarks/scale_simulate.py [--n 100000] [--shards 4] [--grid pxrdnet] [--csv pool.csv]
                                        [--check-n 200] [--workdir DIR] [--batch-size 256]

The structures are the shipped examples with random strain (±3 %, one CIF per row of a generated
CSV), or the first N rows of ``--csv``.  Prints, per shard process and for the merge: wall time,
structures/s and peak resident memory (``ru_maxrss`` of that child, from ``os.wait4``), the total
throughput, and whether the merged file of a small run (``--check-n``) equals one single-process run:
bit for bit, or else the largest relative difference of the float datasets (float32 batched compute
rounds differently when the batches hold different structures).  Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import h5py
import numpy as np

HERE = Path(__file__).resolve().parent
CLI = "import sys\nfrom pxrdsolve.cli.app import main\nsys.argv = ['pxrdsolve'] + sys.argv[1:]\nmain()\n"


def make_csv(path: Path, n: int, seed: int = 0) -> None:
    """N strained copies of the example structures (CIF text in a ``cif`` column).

    Each example is written once with pymatgen's CifWriter; a copy only changes the six cell
    parameters and the volume (fractional coordinates are kept), so 100,000 rows take seconds, not minutes.
    """
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.cif import CifWriter

    warnings.simplefilter("ignore")
    bases = [Structure.from_file(p) for p in sorted((HERE.parent / "examples" / "structures").glob("*.cif"))]
    texts = [str(CifWriter(b)) for b in bases]
    cell = re.compile(r"^(_cell_(?:length_[abc]|angle_(?:alpha|beta|gamma)|volume))\s+\S+$", re.M)
    keys = ["_cell_length_a", "_cell_length_b", "_cell_length_c", "_cell_angle_alpha", "_cell_angle_beta",
            "_cell_angle_gamma", "_cell_volume"]
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["material_id", "cif"])
        for i in range(n):
            j = i % len(bases)
            strain = np.eye(3) + rng.uniform(-0.03, 0.03, (3, 3)) * (np.eye(3) + 0.2)
            lat = Lattice(bases[j].lattice.matrix @ strain)
            par = dict(zip(keys, (*lat.parameters, lat.volume)))
            w.writerow([f"s{i:07d}", cell.sub(lambda m, par=par: f"{m.group(1)}   {par[m.group(1)]:.8f}", texts[j])])


def head_csv(src: Path, dst: Path, n: int) -> int:
    """The header and first ``n`` rows of ``src``; returns the rows written."""
    csv.field_size_limit(2**31 - 1)
    with open(src, newline="") as fi, open(dst, "w", newline="") as fo:
        r, w = csv.reader(fi), csv.writer(fo)
        w.writerow(next(r))
        k = 0
        for row in r:
            if k >= n:
                break
            w.writerow(row)
            k += 1
    return k


def start(args: list[str], threads: int, log: Path) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    fh = open(log, "w")  # noqa: SIM115 - closed by the caller through proc.log
    proc = subprocess.Popen([sys.executable, "-c", CLI, *args], stdout=fh, stderr=subprocess.STDOUT, env=env,
                            stdin=subprocess.DEVNULL)
    proc.log = fh  # type: ignore[attr-defined]
    return proc


def wait_all(procs: list[subprocess.Popen]) -> dict[int, tuple[int, float, float]]:
    """pid → (exit status, wall s, peak RSS MB) for every process (each reaped with ``os.wait4``)."""
    t0 = {p.pid: p.t0 for p in procs}  # type: ignore[attr-defined]
    out: dict[int, tuple[int, float, float]] = {}
    while len(out) < len(procs):
        pid, status, ru = os.wait4(-1, 0)
        if pid in t0:
            out[pid] = (os.waitstatus_to_exitcode(status), time.perf_counter() - t0[pid], ru.ru_maxrss / 1024)
    for p in procs:
        p.returncode = out[p.pid][0]
        p.log.close()  # type: ignore[attr-defined]
    return out


def run_one(args: list[str], threads: int, log: Path) -> tuple[int, float, float]:
    proc = start(args, threads, log)
    proc.t0 = time.perf_counter()  # type: ignore[attr-defined]
    return wait_all([proc])[proc.pid]


def compare(a: Path, b: Path) -> tuple[bool, float, list[str]]:
    """(bit-identical, largest relative float difference, names of differing non-float datasets)."""
    def load(path: Path) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        with h5py.File(path, "r") as h5:
            h5.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
        return out

    da, db = load(a), load(b)
    identical, worst, other = sorted(da) == sorted(db), 0.0, sorted(set(da) ^ set(db))
    for name in set(da) & set(db):
        x, y = np.asarray(da[name]), np.asarray(db[name])
        if x.shape != y.shape or x.dtype != y.dtype:
            identical = False
            other.append(name)
        elif x.dtype.kind == "f":
            if x.tobytes() != y.tobytes():
                identical = False
                scale = max(float(np.abs(x).max()), 1e-300)
                worst = max(worst, float(np.abs(x.astype(float) - y.astype(float)).max()) / scale)
        elif (x.tolist() != y.tolist()) if x.dtype.kind == "O" else (x.tobytes() != y.tobytes()):
            identical = False
            other.append(name)
    return identical, worst, other


def sharded(pool: Path, work: Path, k: int, sim: list[str], threads: int, tag: str) -> dict:
    outs = [work / f"{tag}_shard{i}.h5" for i in range(k)]
    procs = []
    for i, out in enumerate(outs):
        p = start(["simulate", str(pool), "-o", str(out), "--shard", f"{i}/{k}", "-q", *sim], threads,
                  work / f"{tag}_shard{i}.log")
        p.t0 = time.perf_counter()  # type: ignore[attr-defined]
        procs.append(p)
    t0 = time.perf_counter()
    stats = wait_all(procs)
    wall = time.perf_counter() - t0
    for p, out in zip(procs, outs):
        if p.returncode != 0:
            raise SystemExit(f"shard {out} failed (status {p.returncode}); see {work}/{tag}_shard*.log")
    merged = work / f"{tag}_merged.h5"
    m_status, m_wall, m_rss = run_one(["simulate", "--merge", *map(str, outs), "-o", str(merged), "-q"], 1,
                                      work / f"{tag}_merge.log")
    if m_status != 0:
        raise SystemExit(f"merge failed (status {m_status}); see {work}/{tag}_merge.log")
    with h5py.File(merged, "r") as h5:
        n_struct, n_done = int(h5.attrs["n_structures"]), int(h5.attrs["n_done"])
    return {"shards": [{"shard": f"{i}/{k}", "seconds": round(stats[p.pid][1], 2),
                        "peak_rss_mb": round(stats[p.pid][2], 1)} for i, p in enumerate(procs)],
            "shard_wall_s": round(wall, 2), "merge_s": round(m_wall, 2), "merge_peak_rss_mb": round(m_rss, 1),
            "n_structures": n_struct, "n_done": n_done, "merged": str(merged),
            "structures_per_s": round(n_done / (wall + m_wall), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="structures in the scale run")
    ap.add_argument("--shards", type=int, default=4, help="shard processes, run at the same time")
    ap.add_argument("--grid", default="pxrdnet")
    ap.add_argument("--size", default="10")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--csv", type=Path, default=None, help="use the first N rows of this CSV instead")
    ap.add_argument("--check-n", type=int, default=200, help="structures of the merged-vs-single check (0: skip)")
    ap.add_argument("--workdir", type=Path, default=None, help="keep files here [default: a temporary folder]")
    a = ap.parse_args()
    work = a.workdir or Path(tempfile.mkdtemp(prefix="pxrdsolve_scale_"))
    work.mkdir(parents=True, exist_ok=True)
    threads = max(1, (os.cpu_count() or 1) // a.shards)
    sim = ["--grid", a.grid, "--size", a.size, "--batch-size", str(a.batch_size)]
    import torch

    from pxrdsolve import __version__

    machine = (f"{platform.machine()} {os.cpu_count()} cores ({platform.processor() or 'cpu'}), "
               f"Python {platform.python_version()}, torch {torch.__version__}, pxrdsolve {__version__}")
    print(f"machine: {machine}\nworkdir: {work}\n{a.shards} shard processes × {threads} thread(s); {' '.join(sim)}")
    result: dict = {"machine": machine, "n": a.n, "shards": a.shards, "threads_per_process": threads,
                    "simulate_args": sim}

    if a.check_n:
        small = work / "check.csv"
        if a.csv:
            head_csv(a.csv, small, a.check_n)
        else:
            make_csv(small, a.check_n, seed=1)
        status, wall, rss = run_one(["simulate", str(small), "-o", str(work / "check_single.h5"), "-q", *sim],
                                    threads * a.shards, work / "check_single.log")
        if status != 0:
            raise SystemExit(f"single-process check run failed (status {status})")
        chk = sharded(small, work, a.shards, sim, threads, "check")
        identical, worst, other = compare(work / "check_single.h5", Path(chk["merged"]))
        result["check"] = {"n": a.check_n, "bit_identical": identical, "max_rel_float_diff": worst,
                           "differing_non_float": other, "single_s": round(wall, 2),
                           "single_peak_rss_mb": round(rss, 1)}
        print(f"check N={a.check_n}: merged vs single process: "
              + ("bit-identical" if identical else f"max relative float difference {worst:.2e}"
                 + (f", other differences: {other}" if other else "")))

    pool = work / "pool.csv"
    t0 = time.perf_counter()
    if a.csv:
        n = head_csv(a.csv, pool, a.n)
    else:
        make_csv(pool, a.n)
        n = a.n
    result["csv_seconds"] = round(time.perf_counter() - t0, 1)
    print(f"input: {n} structures ({pool}, written in {result['csv_seconds']} s)")
    run = sharded(pool, work, a.shards, sim, threads, "scale")
    result["scale"] = run
    for s in run["shards"]:
        print(f"  shard {s['shard']}: {s['seconds']:.1f} s, peak RSS {s['peak_rss_mb']:.0f} MB")
    print(f"  merge: {run['merge_s']:.1f} s, peak RSS {run['merge_peak_rss_mb']:.0f} MB")
    total_s = run["shard_wall_s"] + run["merge_s"]
    print(f"total: {run['n_done']} items ({run['n_structures']} structures) in {total_s:.1f} s"
          f" = {run['structures_per_s']:.1f} structures/s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
