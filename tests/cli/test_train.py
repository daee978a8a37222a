"""``pxrdsolve dataset`` and ``pxrdsolve train`` through Typer (commands registered locally)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from pxrdsolve.cli.train import dataset, train
from pxrdsolve.model.checkpoint import load_checkpoint

POOL = Path(__file__).parents[1] / "training" / "data" / "mini_pool.csv"
HOLDOUT = Path(__file__).parents[1] / "training" / "data" / "holdout.csv"


@pytest.fixture
def invoke():
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models; avoid oversubscribing shared CPUs
    app = typer.Typer()
    app.command("train")(train)
    app.command("dataset")(dataset)
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, [str(a) for a in args])
    torch.set_num_threads(old)


def test_dataset_then_train_then_resume(invoke, tmp_path):
    data = tmp_path / "train.h5"
    res = invoke("dataset", POOL, "-o", data, "--exclude-ids-from", HOLDOUT, "--holdout-formulas", HOLDOUT,
                 "--val-fraction", "0.2", "--workers", "1", "--json", "-q")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["kept"] == 8 and summary["dropped"]["holdout_formula"] == 1
    ckpt = tmp_path / "m.h5"
    res = invoke("train", data, "-o", ckpt, "--preset", "tiny", "--steps", "3", "--batch-size", "2", "--json",
                 "-q", "--export", tmp_path / "ship.h5")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["step"] == 3 and not out["interrupted"] and Path(out["log_path"]).exists()
    assert load_checkpoint(ckpt).config.train.batch_size == 2
    shipped = load_checkpoint(tmp_path / "ship.h5")
    assert shipped.optimizer is None and shipped.ema is None and shipped.extra["ema"] is True
    res = invoke("train", data, "-o", ckpt, "--resume", "--steps", "5", "--json", "-q")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["step"] == 5
    assert load_checkpoint(ckpt).config.preset == "tiny"


def test_bad_inputs_exit_2(invoke, tmp_path):
    res = invoke("train", tmp_path / "none.h5", "--preset", "tiny", "-o", tmp_path / "m.h5")
    assert res.exit_code == 2 and "not found" in res.output
    res = invoke("train", tmp_path / "none.h5", "--preset", "huge")
    assert res.exit_code == 2 and "unknown --preset" in res.output
    res = invoke("dataset", tmp_path / "missing.csv", "-o", tmp_path / "x.h5")
    assert res.exit_code == 2 and "missing.csv" in res.output
