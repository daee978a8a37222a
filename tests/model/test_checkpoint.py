"""HDF5 checkpoints: bit-identical round trip, refusal of corrupt/foreign/old files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from pxrdsolve.errors import FormatVersionError, InputError
from pxrdsolve.model.checkpoint import Checkpoint, load_checkpoint, load_model, save_checkpoint
from pxrdsolve.model.config import Config, preset
from pxrdsolve.model.model import PXRDSolveModel


def _make(tmp_path, half: bool = False):
    torch.manual_seed(0)
    model = PXRDSolveModel(preset("tiny"))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss = sum(p.sum() for p in model.parameters())
    loss.backward()
    opt.step()
    ema = {k: v.clone() * 0.5 for k, v in model.state_dict().items()}
    ck = Checkpoint(config=model.config, model=model.state_dict(), step=17, ema=ema,
                    optimizer=opt.state_dict(), rng={"torch_cpu": torch.get_rng_state()},
                    extra={"epoch": 2})
    path = save_checkpoint(tmp_path / "c.h5", ck, half=half)
    return model, opt, ck, path


def test_round_trip_bit_identical(tmp_path):
    model, opt, ck, path = _make(tmp_path)
    back = load_checkpoint(path)
    assert back.step == 17 and back.extra == {"epoch": 2}
    assert back.config == model.config
    for name, t in model.state_dict().items():
        assert back.model[name].dtype == t.dtype and torch.equal(back.model[name], t), name
        assert torch.equal(back.ema[name], ck.ema[name])
    assert back.rng["torch_cpu"].dtype == torch.uint8
    assert torch.equal(back.rng["torch_cpu"], ck.rng["torch_cpu"])
    opt2 = torch.optim.AdamW(PXRDSolveModel(preset("tiny")).parameters(), lr=1e-3)
    opt2.load_state_dict(back.optimizer)
    for i, st in opt.state_dict()["state"].items():
        for key, val in st.items():
            assert torch.equal(opt2.state_dict()["state"][i][key], val), (i, key)
    assert not list(tmp_path.glob(".*tmp")), "temporary file left behind"


def test_half_storage_and_load_model(tmp_path):
    model, _, _, path = _make(tmp_path, half=True)
    with h5py.File(path) as f:
        name = next(iter(f["model"]))
        assert f["model"][name].dtype == np.float16
    loaded = load_model(path, use_ema=False)
    for name, t in model.state_dict().items():
        assert torch.allclose(loaded.state_dict()[name], t, rtol=2e-3, atol=1e-4), name


def test_hash_mismatch_refused(tmp_path):
    _, _, _, path = _make(tmp_path)
    with h5py.File(path, "a") as f:
        name = "model/" + next(iter(f["model"]))
        data = f[name][()]
        f[name][...] = data + 1.0
    with pytest.raises(InputError, match="hash mismatch") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_wrong_version_and_kind_refused(tmp_path):
    _, _, _, path = _make(tmp_path)
    with h5py.File(path, "a") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(FormatVersionError, match="format_version 99"):
        load_checkpoint(path)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.attrs["kind"] = "pxrdsolve.patterns"
    with pytest.raises(FormatVersionError, match="not a pxrdsolve checkpoint"):
        load_checkpoint(other)
    junk = tmp_path / "junk.h5"
    junk.write_text("hello")
    with pytest.raises(InputError, match="junk.h5"):
        load_checkpoint(junk)
    with pytest.raises(InputError, match="not found"):
        load_checkpoint(tmp_path / "missing.h5")


def test_config_json_round_trip():
    for name in ("tiny", "small", "paper"):
        cfg = preset(name)
        assert Config.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="unknown config keys"):
        Config.from_dict({"model": {"bogus": 1}})
    cfg = preset("tiny").replace(train={"lr": 0.5})
    assert cfg.train.lr == 0.5 and cfg.model == preset("tiny").model
