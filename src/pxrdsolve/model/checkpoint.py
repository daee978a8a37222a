"""Checkpoints as HDF5: one dataset per tensor, never pickles.

Layout (``format_version`` 1, ``kind = "pxrdsolve.checkpoint"``)::

    /model/<param name>            weights (float32, or float16 when saved with ``half=True``)
    /ema/<param name>              EMA weights (optional)
    /optimizer/state/<i>/<key>     optimizer state tensors (optional); param_groups as JSON attr
    /rng/<name>                    RNG states as uint8 arrays (optional)
    attrs: format_version, kind, config (JSON), step, extra (JSON), weights_dtype, content_sha256

``content_sha256`` hashes every dataset (sorted path, dtype, shape, bytes) and is verified on
load.  Files are written to a temporary name in the same folder and renamed (atomic on POSIX).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pxrdsolve.errors import FormatVersionError, InputError
from pxrdsolve.io.atomic import atomic_path
from pxrdsolve.model.config import Config

FORMAT_VERSION = 1
KIND = "pxrdsolve.checkpoint"


@dataclass(frozen=True)
class Checkpoint:
    """A loaded (or to-be-saved) checkpoint; tensors on CPU."""

    config: Config
    model: dict[str, torch.Tensor]
    step: int = 0
    ema: dict[str, torch.Tensor] | None = None
    optimizer: dict[str, Any] | None = None  # torch optimizer state_dict
    rng: dict[str, torch.Tensor] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # JSON-able bookkeeping (epoch, losses…)
    path: str | None = None


def _hash(h5: Any) -> str:
    import h5py

    names: list[str] = []
    h5.visit(lambda n: names.append(n) if isinstance(h5[n], h5py.Dataset) else None)
    digest = hashlib.sha256()
    for name in sorted(names):
        arr = np.ascontiguousarray(h5[name][()])
        digest.update(f"{name}|{arr.dtype.str}|{arr.shape}|".encode())
        digest.update(arr.tobytes())
    for key in _HASHED_ATTRS:  # the metadata that gives the tensors their meaning
        if key in h5.attrs:
            digest.update(f"{key}={h5.attrs[key]}|".encode())
    return digest.hexdigest()


_HASHED_ATTRS = ("config", "extra", "format_version", "kind", "step", "weights_dtype")


def _np(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.numpy()


def save_checkpoint(path: str | os.PathLike, ckpt: Checkpoint, half: bool = False) -> Path:
    """Write ``ckpt`` atomically to ``path``; ``half`` stores model/EMA weights as float16."""
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, ".h5") as tmp:
        with h5py.File(tmp, "w") as f:
            for group, state in (("model", ckpt.model), ("ema", ckpt.ema)):
                if state is None:
                    continue
                g = f.create_group(group)
                for name, t in state.items():
                    arr = _np(t)
                    if half and arr.dtype.kind == "f":
                        arr = arr.astype(np.float16)
                    g.create_dataset(name, data=arr)
            if ckpt.optimizer is not None:
                g = f.create_group("optimizer")
                g.attrs["param_groups"] = json.dumps(ckpt.optimizer["param_groups"])
                for idx, st in ckpt.optimizer["state"].items():
                    for key, val in st.items():
                        arr = _np(val) if isinstance(val, torch.Tensor) else np.asarray(val)
                        g.create_dataset(f"state/{int(idx)}/{key}", data=arr)
            for name, t in ckpt.rng.items():
                f.create_dataset(f"rng/{name}", data=_np(t))
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["kind"] = KIND
            f.attrs["config"] = ckpt.config.to_json()
            f.attrs["step"] = int(ckpt.step)
            f.attrs["extra"] = json.dumps(ckpt.extra)
            f.attrs["weights_dtype"] = "float16" if half else "float32"
            f.attrs["content_sha256"] = _hash(f)
    return path


def _read_group(f: Any, name: str, cast_float32: bool) -> dict[str, torch.Tensor] | None:
    if name not in f:
        return None
    out = {}
    for key, ds in f[name].items():
        arr = ds[()]
        if cast_float32 and arr.dtype == np.float16:
            arr = arr.astype(np.float32)
        out[key] = torch.from_numpy(np.asarray(arr))
    return out


def load_checkpoint(path: str | os.PathLike, verify: bool = True) -> Checkpoint:
    """Read a checkpoint; wrong kind/version → :class:`FormatVersionError`, corrupt → :class:`InputError`."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: checkpoint file not found")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"{path}: not an HDF5 checkpoint ({exc.__class__.__name__})") from None
    with f:
        kind = f.attrs.get("kind")
        if kind != KIND:
            raise FormatVersionError(f"{path}: not a pxrdsolve checkpoint (kind={kind!r})")
        version = int(f.attrs.get("format_version", -1))
        if version != FORMAT_VERSION:
            raise FormatVersionError(
                f"{path}: checkpoint format_version {version} is not supported (this pxrdsolve reads "
                f"{FORMAT_VERSION})")
        if verify and _hash(f) != f.attrs.get("content_sha256"):
            raise InputError(f"{path}: checkpoint content hash mismatch (file corrupt or modified)")
        try:
            config = Config.from_json(f.attrs["config"])
        except (KeyError, ValueError, TypeError) as exc:
            raise InputError(f"{path}: unreadable config attribute ({exc})") from None
        model = _read_group(f, "model", True) or {}
        ema = _read_group(f, "ema", True)
        optimizer = None
        if "optimizer" in f:
            g = f["optimizer"]
            state: dict[int, dict[str, torch.Tensor]] = {}
            if "state" in g:
                for idx, sg in g["state"].items():
                    state[int(idx)] = {k: torch.from_numpy(np.asarray(v[()])) for k, v in sg.items()}
            optimizer = {"state": state, "param_groups": json.loads(g.attrs["param_groups"])}
        rng = _read_group(f, "rng", False) or {}
        return Checkpoint(config=config, model=model, step=int(f.attrs["step"]), ema=ema,
                          optimizer=optimizer, rng=rng, extra=json.loads(f.attrs.get("extra", "{}")),
                          path=str(path))


def load_model(path: str | os.PathLike, use_ema: bool = True, device: str | torch.device = "cpu"):
    """A ready :class:`~pxrdsolve.model.model.PXRDSolveModel` (eval mode) from a checkpoint file."""
    from pxrdsolve.model.model import PXRDSolveModel

    ckpt = load_checkpoint(path)
    model = PXRDSolveModel(ckpt.config)
    weights = ckpt.ema if (use_ema and ckpt.ema) else ckpt.model
    missing = set(model.state_dict()) - set(weights)
    if missing:
        raise InputError(f"{path}: checkpoint lacks {len(missing)} tensors (e.g. {sorted(missing)[0]})")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in weights.items()})
    return model.to(device).eval()


def export_checkpoint(src: str | os.PathLike, dst: str | os.PathLike, half: bool = True) -> Path:
    """Write an inference-only copy of ``src``: EMA weights as the model, no optimizer/RNG state,
    float16 storage by default (about a quarter of a training checkpoint's size)."""
    ckpt = load_checkpoint(src)
    weights = ckpt.ema if ckpt.ema else ckpt.model
    slim = Checkpoint(config=ckpt.config, model=weights, step=ckpt.step,
                      extra={**ckpt.extra, "exported_from": str(src), "ema": bool(ckpt.ema)})
    return save_checkpoint(dst, slim, half=half)
