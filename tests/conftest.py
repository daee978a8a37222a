"""Session fixtures shared by every test folder."""

from __future__ import annotations

import json

import pytest

from helpers import DATA


@pytest.fixture(scope="session")
def pymatgen_fixture() -> list[dict]:
    """50 MP-20 test structures with pymatgen's Cu Kα peaks (see tests/data/make_fixtures.py)."""
    return json.loads((DATA / "pymatgen_peaks.json").read_text())
