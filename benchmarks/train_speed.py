"""Training speed: optimizer steps/s with the structure factors recomputed every step (before) and
with each structure's peaks computed once and only the broadening done per step (after), same run.

Data: the first ``--rows`` (≤ 256) rows of CDVAE's MP-20 *train* split (``cdvae_mp20_pilot_train1000.csv``),
PXRDNet's test ids removed; never test rows.  For each preset a model is built and ``--steps`` full
training steps (augmentation, all losses, backward, AdamW) are timed after one warm-up step, first
without the cache, then with it (the cache is filled before timing; its fill time is printed).  The
per-step simulation time alone is printed too.  Prints one table; ``--json`` writes the numbers.

    python benchmarks/train_speed.py --presets tiny small --steps 20 --threads 1
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mp_20"


def build(rows: int, data_dir: Path, out: Path) -> Path:
    from pxrdsolve.training.dataset import build_dataset, read_ids

    csv.field_size_limit(sys.maxsize)
    test_ids = read_ids(data_dir / "pxrdnet_test_1130.csv")
    src = data_dir / "cdvae_mp20_pilot_train1000.csv"
    with open(src, newline="") as f:
        reader = csv.DictReader(f)
        kept = [r for r in reader if r["material_id"] not in test_ids][:rows]
    tmp_csv = out.with_suffix(".csv")
    with open(tmp_csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(kept[0]))
        w.writeheader()
        w.writerows(kept)
    build_dataset([tmp_csv], out, exclude_ids=test_ids, val_fraction=0.0, workers=1)
    return out


def time_steps(preset_name: str, ds, steps: int, cached: bool, seed: int = 0) -> dict[str, float]:
    from pxrdsolve.model.config import preset
    from pxrdsolve.model.model import PXRDSolveModel
    from pxrdsolve.training.augment import simulate_patterns
    from pxrdsolve.training.data import batch_indices
    from pxrdsolve.training.loop import make_peak_cache, step_seed

    config = preset(preset_name).replace(augment={"simulator": "pxrdnet", "cache_peaks": cached})
    torch.manual_seed(seed)
    model = PXRDSolveModel(config)
    opt = torch.optim.AdamW(model.parameters(), lr=config.train.lr)
    train_idx = ds.indices("train")
    cache = make_peak_cache(ds, config)
    fill = 0.0
    if cache is not None:
        t = time.perf_counter()
        cache.peaks(train_idx)
        fill = time.perf_counter() - t
    sim_s = total_s = 0.0
    for step in range(steps + 1):
        t0 = time.perf_counter()
        idx, _ = batch_indices(train_idx, step, config.train.batch_size, seed)
        crystals = ds.batch(idx)
        gen = torch.Generator().manual_seed(step_seed(seed, step, 0))
        sim = simulate_patterns(crystals, config.augment, gen, None if cache is None else cache.peaks(idx))
        t1 = time.perf_counter()
        losses = model.losses(crystals, sim.pattern, sim.mask, sim.clean, gen, size_angstrom=sim.size_angstrom)
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        opt.step()
        t2 = time.perf_counter()
        if step > 0:  # step 0 is the warm-up
            sim_s += t1 - t0
            total_s += t2 - t0
    return {"steps_per_s": steps / total_s, "s_per_step": total_s / steps, "sim_s_per_step": sim_s / steps,
            "cache_fill_s": fill, "batch_size": config.train.batch_size,
            "preset_total_steps": config.train.total_steps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--presets", nargs="+", default=["tiny", "small"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--e2e", nargs="*", default=[], help="presets also trained end to end with train_model "
                    "(their full step count, checkpoints, validation, log) and timed")
    args = ap.parse_args()
    if args.rows > 256:
        ap.error("--rows at most 256 (a benchmark, not a training run)")
    torch.set_num_threads(args.threads)
    from pxrdsolve.training.data import load_dataset

    tmp_dir = tempfile.TemporaryDirectory()
    h5 = build(args.rows, args.data, Path(tmp_dir.name) / "train.h5")
    ds = load_dataset(h5)
    natoms = np.diff(ds.atom_offsets)
    print(f"{len(ds)} crystals (atoms per cell {natoms.min()}-{natoms.max()}, mean {natoms.mean():.1f}), "
          f"{args.threads} thread(s), {args.steps} timed steps per row")
    results = {}
    print(f"{'preset':8s} {'batch':>5s} {'before steps/s':>15s} {'after steps/s':>14s} {'speed-up':>9s} "
          f"{'sim s/step before→after':>26s} {'cache fill s':>12s} {'preset run (after)':>19s}")
    for name in args.presets:
        before = time_steps(name, ds, args.steps, cached=False)
        after = time_steps(name, ds, args.steps, cached=True)
        results[name] = {"before": before, "after": after}
        run_h = after["s_per_step"] * after["preset_total_steps"] / 3600.0
        print(f"{name:8s} {after['batch_size']:5d} {before['steps_per_s']:15.2f} {after['steps_per_s']:14.2f} "
              f"{after['steps_per_s'] / before['steps_per_s']:8.2f}x "
              f"{before['sim_s_per_step']:12.4f} → {after['sim_s_per_step']:.4f} {after['cache_fill_s']:12.2f} "
              f"{run_h:15.2f} h ({after['preset_total_steps']} steps)")
    from pxrdsolve.model.config import preset
    from pxrdsolve.training.loop import train_model

    for name in args.e2e:
        cfg = preset(name).replace(augment={"simulator": "pxrdnet"})
        res = train_model(h5, Path(tmp_dir.name) / f"{name}.h5", cfg, quiet=True)
        results.setdefault(name, {})["train_model_s"] = res.seconds
        print(f"train_model --preset {name}: {res.step} steps in {res.seconds:.1f} s "
              f"(train loss {res.train_loss:.3f})")
    tmp_dir.cleanup()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
