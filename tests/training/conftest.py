"""Fixtures for the training tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

if str(Path(__file__).parent) not in sys.path:  # helpers live next to this file
    sys.path.insert(0, str(Path(__file__).parent))

from training_helpers import write_tiny_dataset  # noqa: E402


@pytest.fixture(scope="session")
def tiny_h5(tmp_path_factory) -> str:
    return write_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny.h5")

