"""A tiny prototype library built once per test session from ``tests/data/library/pool.csv``.

Import as ``from library.tiny_library import ...`` (``tests`` is on the pytest path).
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from helpers import DATA

POOL_DIR = DATA / "library"
POOL = POOL_DIR / "pool.csv"
EXCLUDE = POOL_DIR / "exclude.csv"
HOLDOUT = POOL_DIR / "holdout.csv"


@functools.cache
def _workdir() -> Path:
    d = Path(tempfile.mkdtemp(prefix="pxrdsolve_tiny_lib_"))
    atexit.register(shutil.rmtree, d, True)
    return d


@functools.cache
def tiny_library_path(holdout: bool = False) -> Path:
    """Build (once) the tiny library; ``holdout`` drops the formulas of ``holdout.csv`` (SrTiO3, ZnO)."""
    from pxrdsolve.library.build import build_library, ids_from_csvs

    out = _workdir() / ("holdout.h5" if holdout else "tiny.h5")
    build_library([POOL], out, exclude_ids=ids_from_csvs([EXCLUDE]), holdout_formulas_csv=HOLDOUT if holdout else None,
                  workers=1)
    return out


def tiny_library(holdout: bool = False):
    from pxrdsolve.library.store import load_library

    return load_library(tiny_library_path(holdout))
