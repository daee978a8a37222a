"""The prototype library file (HDF5) and its in-memory form (numpy + h5py only, no pymatgen).

Layout (``format_version`` 1, ``kind = "pxrdsolve.prototypes"``; gzip-compressed datasets)::

    attrs:    format_version, kind, software_version, config (JSON: sources, exclusions, counts,
              licence), content_sha256 (of every dataset, in sorted name order)
    /entries/ id, formula, anonymous_formula, wyckoff (fixed-length ASCII, E); natoms, space_group,
              bucket_count (entries merged into this one), prototype_count (pool entries of its
              prototype) (E,); lattice (E,3,3) Å float32; volume_per_atom (E,) Å³;
              offsets (E+1,) into /atoms; role_elements, role_amounts (E,K): the elements of the
              cell sorted by amount in the cell (ascending, ties by Z), zero-padded
    /atoms/   frac (N,3) float32; atomic_numbers (N,) uint8
    /elements/ per atomic number 0..118: volume (Å³ per atom, fitted on the pool), electronegativity
              (Pauling), mendeleev (Mendeleev number), radius (atomic radius, Å)
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from pxrdsolve.crystal import CrystalRecord
from pxrdsolve.errors import FormatVersionError, InputError

FORMAT_VERSION = 1
KIND = "pxrdsolve.prototypes"
DEFAULT_NAME = "prototypes.h5"
_STRINGS = ("id", "formula", "anonymous_formula", "wyckoff")
_ENTRY_ARRAYS = ("natoms", "space_group", "bucket_count", "prototype_count", "lattice", "volume_per_atom",
                 "offsets", "role_elements", "role_amounts")
_ELEMENT_ARRAYS = ("volume", "electronegativity", "mendeleev", "radius")


@dataclass(frozen=True, eq=False)
class PrototypeLibrary:
    """Prototype entries held in memory; ``index`` maps (anonymous formula, atoms per cell) → entry indices."""

    path: str
    config: dict[str, Any]
    entries: dict[str, np.ndarray]  # the /entries datasets (strings decoded to str arrays)
    frac: np.ndarray  # (N, 3)
    atomic_numbers: np.ndarray  # (N,)
    elements: dict[str, np.ndarray]  # the /elements tables, indexed by atomic number
    index: dict[tuple[str, int], np.ndarray] = field(repr=False)

    def __len__(self) -> int:
        return int(len(self.entries["id"]))

    def group(self, anonymous_formula: str, natoms: int) -> np.ndarray:
        """Indices of the entries with this anonymous formula and atom count (may be empty)."""
        return self.index.get((anonymous_formula, int(natoms)), np.zeros(0, dtype=np.int64))

    def sites(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Fractional coordinates (n,3) and atomic numbers (n,) of entry ``i``."""
        a, b = int(self.entries["offsets"][i]), int(self.entries["offsets"][i + 1])
        return self.frac[a:b], self.atomic_numbers[a:b]

    def record(self, i: int) -> CrystalRecord:
        """Entry ``i`` as a :class:`CrystalRecord` (float64, full occupancy)."""
        frac, z = self.sites(i)
        return CrystalRecord(self.entries["lattice"][i].astype(float), frac.astype(float),
                             z.astype(np.int64), np.ones(len(z)))


def write_library_file(path: str | os.PathLike, entries: dict[str, np.ndarray], frac: np.ndarray,
                       atomic_numbers: np.ndarray, elements: dict[str, np.ndarray], config: dict[str, Any]) -> None:
    """Write a library atomically (temporary file, then rename); strings as fixed-length ASCII."""
    from pxrdsolve import __version__
    from pxrdsolve.io.atomic import atomic_path
    from pxrdsolve.io.patterns_h5 import json_dumps

    data = {f"entries/{k}": _encode(k, np.asarray(v)) for k, v in entries.items()}
    data["atoms/frac"] = np.asarray(frac, dtype=np.float32).reshape(-1, 3)
    data["atoms/atomic_numbers"] = np.asarray(atomic_numbers, dtype=np.uint8)
    data.update({f"elements/{k}": np.asarray(v, dtype=np.float32) for k, v in elements.items()})
    with atomic_path(path, suffix=".h5") as tmp:
        with h5py.File(tmp, "w") as h5:
            h5.attrs.update(format_version=FORMAT_VERSION, kind=KIND, software_version=__version__,
                            config=json_dumps(config), content_sha256=_digest(data))
            for name, arr in data.items():
                kw = {"compression": "gzip", "compression_opts": 9, "shuffle": True} if arr.size > 64 else {}
                h5.create_dataset(name, data=arr, **kw)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a library is a shared read-only data file


def _encode(name: str, arr: np.ndarray) -> np.ndarray:
    if name in _STRINGS:
        return np.char.encode(arr.astype(str), "ascii")
    return arr


def _digest(data: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(data):
        arr = np.ascontiguousarray(data[name])
        h.update(name.encode())
        h.update(str(arr.dtype.str).encode() + str(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def default_library_path() -> Path:
    """The library shipped with pxrdsolve (``pxrdsolve/data/prototypes.h5``)."""
    from importlib.resources import files

    return Path(str(files("pxrdsolve.data") / DEFAULT_NAME))


def load_library(path: str | os.PathLike | None = None) -> PrototypeLibrary:
    """Load (and cache, per path and modification time) a prototype library; default: the shipped one.

    Raises :class:`InputError` (one line naming the file) for a missing, foreign, unknown-version,
    inconsistent or tampered file.
    """
    p = Path(path) if path is not None else default_library_path()
    try:
        stat = p.stat()
    except OSError:
        raise InputError(f"{p}: no such prototype library") from None
    return _load_cached(str(p.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, mtime_ns: int, size: int) -> PrototypeLibrary:
    try:
        h5 = h5py.File(path, "r")
    except OSError:
        raise InputError(f"{path}: not a readable HDF5 file") from None
    with h5:
        if h5.attrs.get("kind") != KIND:
            raise FormatVersionError(f"{path}: not a {KIND} file (kind={h5.attrs.get('kind')!r})")
        version = int(h5.attrs.get("format_version", -1))
        if version != FORMAT_VERSION:
            raise FormatVersionError(
                f"{path}: format_version {version} is not supported (this pxrdsolve reads {FORMAT_VERSION})")
        try:
            data = _read_all(h5)
            config = json.loads(h5.attrs["config"])
            expected = str(h5.attrs["content_sha256"])
        except (KeyError, OSError, ValueError) as exc:
            raise InputError(f"{path}: damaged prototype library ({exc})") from None
    if _digest(data) != expected:
        raise InputError(f"{path}: prototype library content does not match its checksum (modified or damaged)")
    return _assemble(path, config, data)


def _read_all(h5: h5py.File) -> dict[str, np.ndarray]:
    names = [f"entries/{k}" for k in (*_STRINGS, *_ENTRY_ARRAYS)]
    names += ["atoms/frac", "atoms/atomic_numbers"] + [f"elements/{k}" for k in _ELEMENT_ARRAYS]
    return {name: h5[name][()] for name in names}


def _assemble(path: str, config: dict[str, Any], data: dict[str, np.ndarray]) -> PrototypeLibrary:
    entries = {k.split("/", 1)[1]: v for k, v in data.items() if k.startswith("entries/")}
    for k in _STRINGS:
        entries[k] = np.char.decode(entries[k], "ascii")
    n = len(entries["id"])
    off = entries["offsets"]
    frac, z = data["atoms/frac"], data["atoms/atomic_numbers"]
    if (len(off) != n + 1 or off[0] != 0 or off[-1] != len(z) or len(frac) != len(z)
            or np.any(np.diff(off) != entries["natoms"])
            or any(len(entries[k]) != n for k in (*_STRINGS, *_ENTRY_ARRAYS) if k != "offsets")):
        raise InputError(f"{path}: inconsistent prototype library arrays")
    keys: dict[tuple[str, int], list[int]] = {}
    for i, (anon, na) in enumerate(zip(entries["anonymous_formula"].tolist(), entries["natoms"].tolist())):
        keys.setdefault((anon, int(na)), []).append(i)
    index = {k: np.asarray(v, dtype=np.int64) for k, v in keys.items()}
    elements = {k.split("/", 1)[1]: v.astype(float) for k, v in data.items() if k.startswith("elements/")}
    return PrototypeLibrary(path, config, entries, frac, z, elements, index)
