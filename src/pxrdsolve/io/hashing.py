"""Content hashes of HDF5 files (h5py and numpy only, so the training path can use them too)."""

from __future__ import annotations

import hashlib
from typing import Any

import h5py
import numpy as np


def content_hash(h5: h5py.File, max_chunk_bytes: int = 16 * 2**20) -> str:
    """sha256 over every dataset (sorted paths; path, dtype, shape, then the data streamed in row chunks
    of at most ``max_chunk_bytes``, so memory stays bounded for any file size; strings as
    length-prefixed UTF-8) and the ``config`` attribute.  The digest does not depend on the chunking."""
    digest = hashlib.sha256()
    names: list[str] = []
    h5.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    for name in sorted(names):
        ds = h5[name]
        digest.update(f"{name}|{ds.dtype}|{ds.shape}|".encode())
        if not ds.shape:
            _hash_part(digest, ds[()], ds.dtype)
            continue
        row_bytes = max(1, int(np.prod(ds.shape[1:], dtype=np.int64)) * ds.dtype.itemsize)
        rows = max(1, max_chunk_bytes // row_bytes)
        for lo in range(0, ds.shape[0], rows):
            _hash_part(digest, ds[lo : lo + rows], ds.dtype)
    digest.update(str(h5.attrs.get("config", "")).encode())
    return digest.hexdigest()


def _hash_part(digest: Any, part: Any, dtype: np.dtype) -> None:
    if dtype.kind == "O":
        for v in np.ravel(part):
            b = v if isinstance(v, bytes) else str(v).encode()
            digest.update(len(b).to_bytes(8, "little") + b)
    else:
        digest.update(np.ascontiguousarray(part).tobytes())


def check_content_hash(h5: h5py.File, path: Any, what: str = "file", required: bool = False,
                       advice: str = "") -> None:
    """Raise :class:`~pxrdsolve.errors.InputError` naming ``path`` when the stored ``content_sha256``
    does not match the file's content; a file without one is accepted unless ``required``.
    ``advice`` is appended to the message (what to do)."""
    from pxrdsolve.errors import InputError

    stored = h5.attrs.get("content_sha256")
    if (stored is None and required) or (stored is not None and content_hash(h5) != str(stored)):
        raise InputError(f"{path}: {what} content hash mismatch (changed or damaged after it was written)"
                         + (f"; {advice}" if advice else ""))
