from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pxrdsolve.cli.app import register


@pytest.fixture
def run_cli():
    runner = CliRunner()
    app = register()

    def run(*args: str):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return run
