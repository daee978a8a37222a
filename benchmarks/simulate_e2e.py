"""End-to-end ``simulate`` speed (CIF files → peaks up to 2θ = 90°) against every peer installed, one run.

    python benchmarks/simulate_e2e.py [--csv ../shared/data/mp_20/pxrdnet_test_1130.csv] [--n 800]
                                      [--repeats 3] [--peers-path DIR] [--device cpu]

Writes the first N CIFs of the CSV as files in a temporary folder (as a user would have them), then
times, in alternation, ``--repeats`` times each:

* pymatgen: ``CifParser(file).parse_structures(primitive=False)[0]`` + ``XRDCalculator(1.54184)
  .get_pattern(s, two_theta_range=(0, 90))`` per file ("end to end"), and get_pattern alone on the
  parsed structures ("core");
* xrd-rust (``xrd_rust_calculator.XRDCalculatorRust``, a drop-in get_pattern) the same two ways, if
  importable (``--peers-path`` adds a folder to ``sys.path``, e.g. a ``pip install --target`` folder);
* pxrdsolve: ``run_simulate`` of the folder with ``--grid 2theta:0:90:0.02 --sticks-only`` (listing,
  parsing and simulation in worker processes, HDF5 writing; imports excluded), the same with ``--grid
  pxrdnet`` (conventional cells, 512-point inputs and 8192-point evaluation profiles), the command
  line itself (wall time including interpreter start and imports), and the core alone
  (``compute_peaks`` on parsed records, batches of 256, float32 sums, one thread, as ``simulate``).

Prints each timing's range over the repeats and the ratios pymatgen / other for each repeat (min–max),
plus how many structures agree with pymatgen (same peak count, 2θ within 1e-6°, intensities within
1e-3 of the strongest).  On a shared machine the ranges are wide: quote them, not one number.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
Q90 = 4 * math.pi * math.sin(math.radians(45)) / 1.54184


def write_cifs(csv_path: Path, n: int, folder: Path) -> list[Path]:
    csv.field_size_limit(2**31 - 1)
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))[:n]
    paths = []
    for i, r in enumerate(rows):
        p = folder / f"{i:05d}_{r['material_id']}.cif"
        p.write_text(r["cif"])
        paths.append(p)
    return paths


def pymatgen_parse(paths):
    from pymatgen.io.cif import CifParser

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [CifParser(str(p)).parse_structures(primitive=False)[0] for p in paths]


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def rng(values) -> str:
    return f"{min(values):.3g}–{max(values):.3g}" if len(values) > 1 else f"{values[0]:.3g}"


def agreement(structures, folder: Path, calc) -> int:
    """Structures whose pxrdsolve peaks (from the simulate HDF5) match pymatgen's."""
    import h5py

    out = folder.parent / "agree.h5"
    from pxrdsolve.simulation.config import SimulateConfig
    from pxrdsolve.simulation.run import run_simulate

    run_simulate([str(folder)], out, SimulateConfig(grid="2theta:0:90:0.02", sticks_only=True))
    with h5py.File(out) as h5:
        off = np.concatenate([[0], np.cumsum(h5["peaks/num_peaks"][()])])
        tt, inten = h5["peaks/two_theta_deg"][()], h5["peaks/intensity"][()]
    n_ok = 0
    for b, s in enumerate(structures):
        ref = calc.get_pattern(s, two_theta_range=(0, 90))
        x, y = tt[off[b] : off[b + 1]], inten[off[b] : off[b + 1]]
        keep = x <= 90.0
        x, y = x[keep], y[keep]
        n_ok += len(x) == len(ref.x) and np.abs(x - ref.x).max() < 1e-6 and np.abs(y - ref.y).max() / 100 < 1e-3
    return n_ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=HERE.parents[1] / "shared/data/mp_20/pxrdnet_test_1130.csv")
    ap.add_argument("--n", type=int, default=800)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--peers-path", type=Path, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()
    if args.peers_path:
        sys.path.insert(0, str(args.peers_path))
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    from pxrdsolve.crystal import batch_from_records
    from pxrdsolve.diffraction.peaks import compute_peaks
    from pxrdsolve.io.structures import list_inputs, parse_item
    from pxrdsolve.simulation.config import SimulateConfig
    from pxrdsolve.simulation.run import run_simulate

    peers = {"pymatgen": XRDCalculator(1.54184)}
    try:
        from xrd_rust_calculator import XRDCalculatorRust

        peers["xrd-rust"] = XRDCalculatorRust(1.54184)
    except ImportError:
        print("xrd-rust: not installed (pip install xrd-rust)")
    try:
        import phasesmith

        print(f"phasesmith {phasesmith.__version__}: installed, but it computes instrument profiles of "
              "refinement phases, with no per-structure stick pattern to time against get_pattern; not timed")
    except ImportError:
        print("phasesmith: not installed")

    tmp = Path(tempfile.mkdtemp(prefix="pxrd_e2e_"))
    folder = tmp / "cifs"
    folder.mkdir()
    paths = write_cifs(args.csv, args.n, folder)
    n = len(paths)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, torch "
          f"{torch.__version__} ({torch.get_num_threads()} threads), device {args.device}")
    print(f"structures: {n} CIF files from {args.csv.name}")

    structures = pymatgen_parse(paths)
    records = [parse_item(it).record for it in list_inputs([str(folder)])]
    print(f"agreement with pymatgen: {agreement(structures, folder, peers['pymatgen'])} of {n} structures")

    def core():
        for lo in range(0, n, 256):
            compute_peaks(batch_from_records(records[lo : lo + 256]).to(args.device), 1.54184, Q90,
                          compute_dtype=torch.float32)
        if args.device == "cuda":
            torch.cuda.synchronize()

    def ours(grid: str, sticks: bool):
        cfg = SimulateConfig(grid=grid, sticks_only=sticks)
        out = tmp / f"out_{grid.split(':')[0]}.h5"
        return lambda: run_simulate([str(folder)], out, cfg, device=args.device, workers=args.workers)

    cli = [sys.executable, "-c", "from pxrdsolve.cli.app import main; main()", "simulate", str(folder),
           "--grid", "2theta:0:90:0.02", "--sticks-only", "-q", "-o", str(tmp / "cli.h5")]
    torch.set_num_threads(1)  # as simulate runs its simulator (see run_simulate's ``threads``)
    core()  # warm-up (first calls allocate)
    ours("2theta:0:90:0.02", True)()
    times: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for name, calc in peers.items():
            times.setdefault(f"{name} end to end", []).append(
                timed(lambda c=calc: [c.get_pattern(s, two_theta_range=(0, 90)) for s in pymatgen_parse(paths)])[0])
            times.setdefault(f"{name} core", []).append(
                timed(lambda c=calc: [c.get_pattern(s, two_theta_range=(0, 90)) for s in structures])[0])
        times.setdefault("pxrdsolve end to end (sticks)", []).append(timed(ours("2theta:0:90:0.02", True))[0])
        times.setdefault("pxrdsolve end to end (pxrdnet)", []).append(timed(ours("pxrdnet", False))[0])
        times.setdefault("pxrdsolve command line (sticks)", []).append(
            timed(lambda: subprocess.run(cli, check=True, capture_output=True))[0])
        times.setdefault("pxrdsolve core", []).append(timed(core)[0])
    for name, ts in times.items():
        print(f"{name:34s} {rng(ts)} s  ({rng([n / t for t in ts])} structures/s)")
    pm_e2e, pm_core = times["pymatgen end to end"], times["pymatgen core"]
    for name, ts in times.items():
        if name.startswith("pymatgen"):
            continue
        ref = pm_core if name.endswith("core") else pm_e2e
        print(f"pymatgen / {name}: {rng([r / t for r, t in zip(ref, ts)])}x")


if __name__ == "__main__":
    main()
