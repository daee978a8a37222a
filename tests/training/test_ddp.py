"""Data-parallel training with torch.distributed (gloo, 2 CPU processes)."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import torch
import torch.multiprocessing as mp
from training_helpers import tiny_config

from pxrdsolve.model.checkpoint import load_checkpoint


def _worker(rank: int, world: int, port: int, data: str, out: str, cfg_json: str, result_dir: str) -> None:
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    from pxrdsolve.model.config import Config
    from pxrdsolve.training.loop import train_model

    res = train_model(data, out, Config.from_json(cfg_json), seed=1, quiet=True)
    Path(result_dir, f"rank{rank}.json").write_text(json.dumps({"digest": res.param_sha256, "step": res.step,
                                                               "world": res.world_size}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_rank_gloo_training_keeps_ranks_identical(tiny_h5, tmp_path):
    cfg = tiny_config(total_steps=4, batch_size=2, warmup_steps=1, checkpoint_every=1000)
    out = tmp_path / "ddp.h5"
    mp.spawn(_worker, args=(2, _free_port(), tiny_h5, str(out), cfg.to_json(), str(tmp_path)), nprocs=2,
             join=True)
    r0 = json.loads((tmp_path / "rank0.json").read_text())
    r1 = json.loads((tmp_path / "rank1.json").read_text())
    assert r0["world"] == r1["world"] == 2 and r0["step"] == r1["step"] == 4
    assert r0["digest"] == r1["digest"] and len(r0["digest"]) == 64
    ck = load_checkpoint(out)
    assert ck.step == 4 and ck.extra["world_size"] == 2
    rows = [json.loads(line) for line in out.with_suffix(".log.jsonl").read_text().splitlines()]
    assert sum(1 for r in rows if "loss/total" in r) == 4  # only rank 0 logs
