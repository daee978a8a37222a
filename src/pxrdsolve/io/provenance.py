"""Provenance: content hashes of input files, recorded in every output so a result can be traced."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_path(path: str | Path) -> str | None:
    """sha256 of a file, or of a folder (its sorted file names and contents); None if it does not exist."""
    p = Path(path)
    if not p.exists():
        return None
    digest = hashlib.sha256()
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    for f in files:
        if p.is_dir():
            digest.update(str(f.relative_to(p)).encode() + b"\0")
        with open(f, "rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
