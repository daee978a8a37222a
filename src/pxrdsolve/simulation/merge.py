"""Join shard files of one simulate job into one file (shards in order of their shard index)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py

from pxrdsolve.errors import InputError
from pxrdsolve.io.patterns_h5 import PatternWriter, open_patterns, read_strings


def merge_pattern_files(shards: list[str], output: str | Path) -> int:
    """Concatenate complete shard files written with the same configuration; returns structures merged."""
    if not shards:
        raise InputError("--merge needs shard files")
    infos = []
    for path in shards:
        with open_patterns(path) as h5:
            cfg = json.loads(h5.attrs["config"])
            infos.append((tuple(cfg.get("shard") or (0, 1)), path, cfg))
    infos.sort(key=lambda t: t[0])
    base = {k: v for k, v in infos[0][2].items() if k not in ("shard", "n_items", "first_global_index")}
    for _, path, cfg in infos[1:]:
        other = {k: v for k, v in cfg.items() if k not in ("shard", "n_items", "first_global_index")}
        if other != base:
            raise InputError(f"{path}: written with a different configuration than {infos[0][1]}")
    merged_cfg = dict(base, shard=None, merged_from=[p for _, p, _ in infos],
                      n_items=sum(c["n_items"] for _, _, c in infos), first_global_index=0)
    with h5py.File(infos[0][1], "r") as first:
        layout = {name: (ds.shape[1:], ds.dtype, None if ds.maxshape[0] is None else ds[()])
                  for name, ds in first["profiles"].items()}
    writer = PatternWriter(output, merged_cfg, layout, resume=False)
    n_done = total = 0
    try:
        for _, path, cfg in infos:
            with open_patterns(path) as h5:
                s = {name: (read_strings(ds) if ds.dtype.kind in "OS" else ds[()])
                     for name, ds in h5["structures"].items()}
                p = {name: ds[()] for name, ds in h5["peaks"].items()}
                pr = {name: ds[()] for name, ds in h5["profiles"].items() if ds.maxshape[0] is None}
                fails = list(zip(read_strings(h5["failures"]["source"]), read_strings(h5["failures"]["reason"])))
                n_done += int(cfg["n_items"])
                total += len(s["num_atoms"])
                writer.append(s, p, pr, fails, n_done)
        writer.finish()
    finally:
        writer.close()
    return total
