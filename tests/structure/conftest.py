"""The ``crystal`` fixture: one crystal of each space group in :mod:`structure_helpers`."""

from __future__ import annotations

import pytest
from structure_helpers import CRYSTALS, pymatgen_structure, to_record


@pytest.fixture(params=sorted(CRYSTALS))
def crystal(request):
    s = pymatgen_structure(request.param)
    return request.param, s, to_record(s)
