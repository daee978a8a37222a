"""Join shard files of one simulate job into one file (shards in order of their shard index)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from pxrdsolve.errors import InputError
from pxrdsolve.io.atomic import atomic_path
from pxrdsolve.io.patterns_h5 import PatternBuilder, RowReader, json_dumps, open_patterns

_CHUNK_BYTES = 32 * 2**20  # profile bytes copied per step


def merge_pattern_files(shards: list[str], output: str | Path) -> int:
    """Concatenate complete shard files written with the same configuration; returns structures merged.

    Each shard's content hash is verified once; shards are copied in chunks of about 32 MB of
    profiles, so memory does not grow with the file size.  The output is written under a temporary
    name and renamed when complete (a killed merge leaves nothing under ``output``; rerun it).
    """
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
        row_bytes = sum(ds.dtype.itemsize * int(np.prod(ds.shape[1:], dtype=np.int64))
                        for ds in first["profiles"].values() if ds.maxshape[0] is None)
    chunk = max(1, min(4096, _CHUNK_BYTES // max(row_bytes, 1)))
    n_done = total = 0
    with atomic_path(output, ".h5") as tmp:
        builder = PatternBuilder(tmp, json_dumps(merged_cfg), layout)
        try:
            for _, path, cfg in infos:
                with open_patterns(path, verify=False) as h5:  # verified above
                    reader = RowReader(h5)
                    fails = reader.failures()
                    for lo in range(0, max(reader.n, 1), chunk):
                        hi = min(reader.n, lo + chunk)
                        rows, peaks, profiles = reader.rows(lo, hi) if hi > lo else ({}, {}, {})
                        last = hi >= reader.n
                        builder.append(rows, peaks, profiles, fails if last else [],
                                       n_done + (int(cfg["n_items"]) if last else 0))
                    n_done += int(cfg["n_items"])
                    total += reader.n
            builder.finish()
        finally:
            builder.close()
    return total
