"""Fixtures of the batch-cluster robustness tests (kill/resume, fuzzing, integrity, pipelines)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

if str(Path(__file__).parent) not in sys.path:  # robust_helpers lives next to this file
    sys.path.insert(0, str(Path(__file__).parent))

from robust_helpers import write_structure_csv  # noqa: E402


@pytest.fixture(scope="session")
def structure_csv(tmp_path_factory) -> Path:
    """40 rows: strained copies of the shipped example CIFs plus one unparseable row (a failure)."""
    return write_structure_csv(tmp_path_factory.mktemp("structures") / "pool.csv", n=40, n_bad=1)
