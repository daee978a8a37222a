"""Session fixtures shared by every test folder."""

from __future__ import annotations

import json

import pytest
import torch

from helpers import DATA

# One intra-op thread per test process: on small shared machines torch's default thread pool makes
# the many small tensor operations of the tests much slower, not faster.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One thread in every test, restored afterwards (code under test may set its own)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def pymatgen_fixture() -> list[dict]:
    """50 MP-20 test structures with pymatgen's Cu Kα peaks (see tests/data/make_fixtures.py)."""
    return json.loads((DATA / "pymatgen_peaks.json").read_text())


@pytest.fixture
def run_cli():
    """Invoke the ``pxrdsolve`` CLI in-process; returns typer's result (exit_code, output, stdout)."""
    from typer.testing import CliRunner

    from pxrdsolve.cli.app import register

    runner = CliRunner()
    app = register()

    def run(*args: object):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return run
