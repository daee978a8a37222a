"""Simulator speed against pymatgen and the PXRDNet pattern pipeline, measured in one run.

    python benchmarks/simulate_speed.py [--csv ../shared/data/mp_20/pxrdnet_test_1130.csv] [--device cpu]

CIF parsing is excluded on both sides (structures are parsed once, up front).  Prints structures per
second and the ratio pxrdsolve / reference.  Reference 1: pymatgen ``XRDCalculator(1.54184)
.get_pattern(structure)`` (2θ 0–90°) per structure, on the cell as given.  Reference 2: PXRDNet's
pipeline as in ``../shared/tools/pxrdnet_reference.py`` (conventional cell, pymatgen peaks, 4096-bin
sticks, sinc² + Gaussian, 512-point input; plus the 8192-point evaluation pattern).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from pxrdsolve.crystal import batch_from_records
from pxrdsolve.diffraction.peaks import compute_peaks
from pxrdsolve.diffraction.pxrdnet import pxrdnet_eval_patterns, pxrdnet_input_patterns, pxrdnet_peak_q_max
from pxrdsolve.io.structures import standardise, structure_to_record

HERE = Path(__file__).resolve().parent


def load(csv_path: Path, limit: int | None):
    from pymatgen.io.cif import CifParser

    csv.field_size_limit(2**31 - 1)
    rows = list(csv.DictReader(open(csv_path)))[:limit]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [CifParser.from_str(r["cif"]).parse_structures(primitive=False)[0] for r in rows]


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=HERE.parents[1] / "shared/data/mp_20/pxrdnet_test_1130.csv")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    structures = load(args.csv, args.limit)
    n = len(structures)
    dev = torch.device(args.device)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, device {dev}"
          + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else ""))
    print(f"structures: {n} from {args.csv.name}")
    calc = XRDCalculator(1.54184)
    t_pmg = best_of(lambda: [calc.get_pattern(s) for s in structures], 1)
    print(f"pymatgen get_pattern: {t_pmg:.2f} s, {n / t_pmg:.0f} structures/s")

    batch = batch_from_records([structure_to_record(s) for s in structures]).to(dev)
    q90 = pxrdnet_peak_q_max()

    def ours(dtype):
        def run():
            for lo in range(0, n, args.batch_size):
                compute_peaks(batch.select(range(lo, min(n, lo + args.batch_size))), 1.54184, q90,
                              compute_dtype=dtype)
            if dev.type == "cuda":
                torch.cuda.synchronize()
        return run

    for dtype in (torch.float64, torch.float32):
        ours(dtype)()  # warm-up
        t = best_of(ours(dtype), args.repeats)
        print(f"pxrdsolve peaks ({str(dtype)[6:]} sums): {t:.3f} s, {n / t:.0f} structures/s, "
              f"{t_pmg / t:.1f}x pymatgen")

    sys.path.insert(0, str(HERE.parents[1] / "shared/tools"))
    try:
        import pxrdnet_reference as ref
    except ImportError:
        print("PXRDNet reference pipeline not found; skipping the pipeline comparison")
        return
    rng = np.random.default_rng(0)
    conv = [standardise(s, "conventional") for s in structures]

    def reference_pipeline():
        for s in conv:
            peaks = ref.xrd_peaks(s, conventional=False)
            sticks = ref.peaks_to_grid(None, 4096, peaks=peaks)
            ref.pxrdnet_input_pattern(None, 10.0, rng, sticks=sticks)
            ref.pxrdnet_eval_pattern(None, peaks=peaks)

    t_ref = best_of(reference_pipeline, 1)
    cbatch = batch_from_records([structure_to_record(s) for s in conv]).to(dev)

    def preset():
        for lo in range(0, n, 512):
            sub = cbatch.select(range(lo, min(n, lo + 512)))
            pk = compute_peaks(sub, 1.54184, q90, compute_dtype=torch.float32)
            pxrdnet_input_patterns(pk, size_angstrom=10.0, generator=torch.Generator(device="cpu").manual_seed(0),
                                   compute_dtype=torch.float32)
            pxrdnet_eval_patterns(pk, compute_dtype=torch.float32)
        if dev.type == "cuda":
            torch.cuda.synchronize()

    preset()
    t_pre = best_of(preset, args.repeats)
    print(f"PXRDNet pipeline (pymatgen + numpy): {t_ref:.2f} s, {n / t_ref:.0f} structures/s")
    print(f"pxrdsolve pxrdnet preset (input 512 + eval 8192): {t_pre:.3f} s, {n / t_pre:.0f} structures/s, "
          f"{t_ref / t_pre:.1f}x the PXRDNet pipeline")


if __name__ == "__main__":
    main()
