"""The pattern HDF5 file written by ``pxrdsolve simulate`` / ``broaden``.

Layout (``format_version`` 1, ``kind = "pxrdsolve.patterns"``; ragged arrays stored flat, with
per-structure counts, so millions of entries stream)::

    attrs:  format_version, kind, software_version, config (JSON), n_done, complete, content_sha256
    /structures/  id, formula, source, cif (strings, S); lattice (S,3,3) Å; num_atoms (S,);
                  frac (N,3); atomic_numbers (N,); occupancy (N,)
    /peaks/       num_peaks (S,); q_inv_angstrom, two_theta_deg, d_angstrom, intensity (relative,
                  strongest = 100), f_squared (Σ|F|², electrons²), multiplicity (P,); hkl (P,3)
    /profiles/    attrs grid, sizes_angstrom; for ``pxrdnet``: q_input (512), input (S,n_sizes,512),
                  sigma_bins (S,n_sizes), q_eval (8192), eval (S,8192); for other grids:
                  q_inv_angstrom (G), [two_theta_deg (G)], intensity (S,n_sizes,G)
    /failures/    source, reason (strings)

While a job runs, committed batches live in the journal ``NAME.partial.d/`` and the index
``NAME.partial`` (see :class:`PatternWriter`); ``NAME`` appears only when the file is complete.
``n_done`` counts the input items (structures and failures) already handled.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from pxrdsolve import __version__
from pxrdsolve.errors import FormatVersionError, InputError
from pxrdsolve.io.atomic import replace_durably
from pxrdsolve.io.hashing import check_content_hash, content_hash

FORMAT_VERSION = 1
KIND = "pxrdsolve.patterns"
_STR = h5py.string_dtype("utf-8")
_COUNTERS = ("structures", "atoms", "peaks", "failures")


def json_dumps(obj: Any) -> str:
    """JSON with infinities written as the string ``"inf"`` (valid JSON for any reader)."""

    def fix(v: Any) -> Any:
        if isinstance(v, float) and not np.isfinite(v):
            return "inf" if v > 0 else "-inf"
        if isinstance(v, dict):
            return {k: fix(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [fix(x) for x in v]
        return v

    return json.dumps(fix(obj), sort_keys=True)


def check_file(h5: h5py.File, path: str | os.PathLike, kind: str = KIND) -> dict:
    """Validate ``kind``/``format_version`` of an open file and return its config."""
    if h5.attrs.get("kind") != kind:
        raise FormatVersionError(f"{path}: not a {kind} file (kind={h5.attrs.get('kind')!r})")
    version = int(h5.attrs.get("format_version", -1))
    if version != FORMAT_VERSION:
        raise FormatVersionError(
            f"{path}: format_version {version} is not supported (this pxrdsolve reads {FORMAT_VERSION})"
        )
    return json.loads(h5.attrs["config"])


def open_patterns(path: str | os.PathLike, verify: bool = True) -> h5py.File:
    """Open a complete pattern file for reading (checks kind, version and, with ``verify``, the content
    hash written when the file was completed)."""
    try:
        h5 = h5py.File(path, "r")
    except OSError:
        raise InputError(f"{path}: not a readable HDF5 file") from None
    check_file(h5, path)
    if not h5.attrs.get("complete", False):
        h5.close()
        raise InputError(f"{path}: incomplete file (rerun with --resume)")
    if verify:
        try:
            check_content_hash(h5, path, "pattern file")
        except InputError:
            h5.close()
            raise
    return h5


class PatternBuilder:
    """Writes one complete pattern file: create the layout, append row blocks, mark complete + hash."""

    def __init__(self, path: Path, cfg: str, profile_layout: dict[str, tuple], journal: bool = False):
        """``journal``: a temporary batch file of :class:`PatternWriter`, compressed with LZF (several times
        faster to write and read than gzip; the joined file uses gzip and has the same content hash)."""
        self.h5 = h5py.File(path, "w")
        self.filters = {"compression": "lzf"} if journal else {"compression": "gzip", "compression_opts": 1}
        self._create(cfg, profile_layout)

    def _create(self, cfg: str, profile_layout: dict[str, tuple]) -> None:
        h5 = self.h5
        h5.attrs.update(format_version=FORMAT_VERSION, kind=KIND, software_version=__version__, config=cfg,
                        n_done=0, complete=False)
        for name in _COUNTERS:
            h5.attrs[f"n_{name}"] = 0
        s = h5.create_group("structures")
        for name in ("id", "formula", "source", "cif"):
            s.create_dataset(name, (0,), maxshape=(None,), dtype=_STR, chunks=(256,),
                             compression=self.filters["compression"] if name == "cif" else None)
        s.create_dataset("lattice", (0, 3, 3), maxshape=(None, 3, 3), dtype="f8", chunks=(256, 3, 3))
        s.create_dataset("num_atoms", (0,), maxshape=(None,), dtype="i4", chunks=(1024,))
        s.create_dataset("frac", (0, 3), maxshape=(None, 3), dtype="f8", chunks=(4096, 3))
        s.create_dataset("atomic_numbers", (0,), maxshape=(None,), dtype="i2", chunks=(4096,))
        s.create_dataset("occupancy", (0,), maxshape=(None,), dtype="f4", chunks=(4096,))
        p = h5.create_group("peaks")
        p.create_dataset("num_peaks", (0,), maxshape=(None,), dtype="i4", chunks=(1024,))
        for name, dt in (("q_inv_angstrom", "f8"), ("two_theta_deg", "f8"), ("d_angstrom", "f8"),
                         ("intensity", "f8"), ("f_squared", "f8"), ("multiplicity", "i4")):
            p.create_dataset(name, (0,), maxshape=(None,), dtype=dt, chunks=(16384,))
        p.create_dataset("hkl", (0, 3), maxshape=(None, 3), dtype="i2", chunks=(16384, 3))
        g = h5.create_group("profiles")
        for name, (shape, dtype, fixed) in profile_layout.items():
            if fixed is not None:
                g.create_dataset(name, data=fixed)
            else:
                rows = max(1, min(256, 2**20 // max(1, int(np.prod(shape)))))
                g.create_dataset(name, (0, *shape), maxshape=(None, *shape), dtype=dtype,
                                 chunks=(rows, *shape), **self.filters,
                                 shuffle=np.dtype(dtype).kind == "f")  # byte shuffle: smaller, faster
        f = h5.create_group("failures")
        for name in ("source", "reason"):
            f.create_dataset(name, (0,), maxshape=(None,), dtype=_STR, chunks=(256,))
        # dataset handles once (h5py's name lookup costs more than a small write)
        self.ds = {(g, name): ds for g in ("structures", "peaks", "profiles", "failures")
                   for name, ds in h5[g].items()}

    def append(self, structures: dict[str, Any], peaks: dict[str, np.ndarray], profiles: dict[str, np.ndarray],
               failures: list[tuple[str, str]], n_done: int) -> None:
        ds = self.ds
        for group, part in (("structures", structures), ("peaks", peaks), ("profiles", profiles)):
            for name, data in part.items():
                PatternWriter._append(ds[group, name], data)
        PatternWriter._append(ds["failures", "source"], [f[0] for f in failures])
        PatternWriter._append(ds["failures", "reason"], [f[1] for f in failures])
        self.h5.attrs.update(n_structures=ds["structures", "num_atoms"].shape[0],
                             n_atoms=ds["structures", "frac"].shape[0],
                             n_peaks=ds["peaks", "q_inv_angstrom"].shape[0],
                             n_failures=ds["failures", "source"].shape[0], n_done=n_done)

    def finish(self, extra_attrs: dict[str, Any] | None = None) -> None:
        self.h5.attrs["complete"] = True
        for k, v in (extra_attrs or {}).items():
            self.h5.attrs[k] = v
        self.h5.flush()
        self.h5.attrs["content_sha256"] = content_hash(self.h5)
        self.h5.close()

    def close(self) -> None:
        if self.h5.id.valid:
            self.h5.close()


class PatternWriter:
    """Crash-safe, resumable writer of a pattern file.

    Every committed batch is a complete small pattern file ``NAME.partial.d/batch_NNNNNN.h5`` (written
    to a temporary name, then renamed); the small index file ``NAME.partial`` (attributes ``config``,
    ``n_done``, ``n_batches``; replaced atomically after each batch) says which batches are committed.
    A job killed at any moment therefore loses at most the batch in flight, and ``resume=True``
    continues after the last committed batch.  :meth:`finish` joins the batches into ``NAME``
    (temporary name, then rename) and removes the journal.
    """

    JOIN_BYTES = 64 * 2**20  # journal batches joined in memory up to this size before one write

    def __init__(self, final: str | os.PathLike, config: dict, profile_layout: dict[str, tuple], resume: bool,
                 batch_size: int = 0):
        self.final = Path(final)
        self.partial = self.final.with_name(self.final.name + ".partial")
        self.journal = self.final.with_name(self.final.name + ".partial.d")
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.cfg = json_dumps(config)
        self.layout = profile_layout
        self._n_done = self._n_batches = 0
        self._fresh: set[int] = set()  # batches written by this object (their hash need not be re-read)
        self.batch_size = int(batch_size)  # inputs per batch; a resume adopts the killed run's value
        if resume and self.partial.exists():
            try:
                with h5py.File(self.partial, "r") as idx:
                    old = str(idx.attrs["config"])
                    self._n_done, self._n_batches = int(idx.attrs["n_done"]), int(idx.attrs["n_batches"])
                    self.batch_size = int(idx.attrs.get("batch_size", self.batch_size))
            except (OSError, KeyError, RuntimeError, ValueError) as exc:
                raise InputError(f"{self.partial}: damaged by an interrupted write ({exc}); delete it and "
                                 "rerun") from None
            if old != self.cfg:
                raise InputError(f"{self.partial}: was written with another configuration; cannot resume")
            missing = [b for b in range(self._n_batches) if not self._batch_path(b).exists()]
            if missing:
                raise InputError(f"{self.partial}: journal batch {missing[0]} is missing; delete it and rerun")
        else:
            for stale in (self.partial,):
                if stale.exists():
                    stale.unlink()
            shutil.rmtree(self.journal, ignore_errors=True)
            self.journal.mkdir(parents=True)
            self._write_index()

    def _batch_path(self, b: int) -> Path:
        return self.journal / f"batch_{b:06d}.h5"

    def _write_index(self) -> None:
        tmp = self.partial.with_name(self.partial.name + ".tmp")
        with h5py.File(tmp, "w") as idx:
            idx.attrs.update(kind=KIND + ".journal", format_version=FORMAT_VERSION, config=self.cfg,
                             n_done=self._n_done, n_batches=self._n_batches, batch_size=self.batch_size)
        replace_durably(tmp, self.partial)

    @property
    def n_done(self) -> int:
        return self._n_done

    @staticmethod
    def _append(ds: h5py.Dataset, data: np.ndarray | list) -> None:
        n = len(data)
        if n == 0:
            return
        start = ds.shape[0]
        ds.resize(start + n, axis=0)
        ds[start:] = data

    def append(self, structures: dict[str, Any], peaks: dict[str, np.ndarray], profiles: dict[str, np.ndarray],
               failures: list[tuple[str, str]], n_done: int) -> None:
        """Write one batch as a journal file and commit it in the index."""
        path = self._batch_path(self._n_batches)
        tmp = path.with_name(path.name + ".tmp")
        builder = PatternBuilder(tmp, self.cfg, self.layout, journal=True)
        try:
            builder.append(structures, peaks, profiles, failures, n_done)
            builder.finish()
        finally:
            builder.close()
        replace_durably(tmp, path)
        self._fresh.add(self._n_batches)
        self._n_batches += 1
        self._n_done = n_done
        self._write_index()

    def finish(self, extra_attrs: dict[str, Any] | None = None) -> None:
        """Join the committed batches into the final file (atomically) and remove the journal."""
        tmp = self.final.with_name(f".{self.final.name}.tmp")
        builder = PatternBuilder(tmp, self.cfg, self.layout)
        try:
            held: list[tuple] = []  # consecutive batches joined in memory, written together (bounded)
            held_bytes = 0
            for b in range(self._n_batches):
                with h5py.File(self._batch_path(b), "r") as part:
                    if b not in self._fresh:  # batches of a killed run: verified once, here
                        check_content_hash(part, self._batch_path(b), "journal batch", required=True,
                                           advice=f"delete {self.partial} and rerun")
                    reader = RowReader(part)
                    rows, peaks, profiles = reader.rows(0, reader.n) if reader.n else ({}, {}, {})
                    held.append((rows, peaks, profiles, reader.failures(), int(part.attrs["n_done"])))
                held_bytes += sum(getattr(v, "nbytes", 0) for d in held[-1][:3] for v in d.values())
                if held_bytes > self.JOIN_BYTES or b == self._n_batches - 1:
                    builder.append(*_join_batches(held))
                    held, held_bytes = [], 0
            builder.h5.attrs["n_done"] = self._n_done
            builder.finish(extra_attrs)
        finally:
            builder.close()
        replace_durably(tmp, self.final)  # commit point; killed before the clean-up, a resume joins again
        self.partial.unlink()
        shutil.rmtree(self.journal, ignore_errors=True)

    def close(self) -> None:
        """Nothing stays open between batches."""


def join_rows(parts: list[dict]) -> dict:
    """Consecutive row blocks (name → list or array, as :meth:`PatternBuilder.append` takes them) as one
    block, in order; empty blocks are skipped."""
    parts = [p for p in parts if p]
    if len(parts) < 2:
        return parts[0] if parts else {}
    return {k: sum((p[k] for p in parts), []) if isinstance(parts[0][k], list) else
            np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _join_batches(held: list[tuple]) -> tuple:
    """(rows, peaks, profiles, failures, n_done) of consecutive journal batches as one block."""
    if len(held) == 1:
        return held[0]
    return (join_rows([h[0] for h in held]), join_rows([h[1] for h in held]), join_rows([h[2] for h in held]),
            [f for h in held for f in h[3]], held[-1][4])


_ATOM_FIELDS = ("frac", "atomic_numbers", "occupancy")


class RowReader:
    """Reads structures [lo, hi) of an open pattern file: structure, peak and profile rows.

    Offsets of the ragged arrays are computed once, so reading a file in chunks stays linear and
    memory stays bounded by the chunk size.
    """

    def __init__(self, h5: h5py.File):
        self.h5 = h5
        self.atom_off = np.concatenate([[0], np.cumsum(h5["structures"]["num_atoms"][()])])
        self.peak_off = np.concatenate([[0], np.cumsum(h5["peaks"]["num_peaks"][()])])
        self.n = len(self.atom_off) - 1

    def rows(self, lo: int, hi: int) -> tuple[dict, dict, dict]:
        h5 = self.h5
        a0, a1 = int(self.atom_off[lo]), int(self.atom_off[hi])
        p0, p1 = int(self.peak_off[lo]), int(self.peak_off[hi])
        structures = {}
        for name, ds in h5["structures"].items():
            part = ds[a0:a1] if name in _ATOM_FIELDS else ds[lo:hi]
            structures[name] = [v.decode() if isinstance(v, bytes) else str(v) for v in part] \
                if ds.dtype.kind in "OS" else part
        peaks = {name: ds[lo:hi] if name == "num_peaks" else ds[p0:p1] for name, ds in h5["peaks"].items()}
        profiles = {name: ds[lo:hi] for name, ds in h5["profiles"].items() if ds.maxshape[0] is None}
        return structures, peaks, profiles

    def failures(self) -> list[tuple[str, str]]:
        f = self.h5["failures"]
        return list(zip(read_strings(f["source"]), read_strings(f["reason"])))


def read_peaks(h5: h5py.File) -> dict[str, np.ndarray]:
    """All peaks as flat arrays plus ``offsets`` (S+1,)."""
    g = h5["peaks"]
    out = {name: g[name][()] for name in g}
    out["offsets"] = np.concatenate([[0], np.cumsum(out["num_peaks"])])
    return out


def read_strings(ds: h5py.Dataset) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in ds[()]]
