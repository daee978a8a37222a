"""``pxrdsolve train`` (train or resume a model) and ``pxrdsolve dataset`` (CSV → training HDF5)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pxrdsolve.cli import types as t
from pxrdsolve.cli.common import emit_json, handle_errors, progress_bar, stderr_console


@handle_errors
def train(
    data: Annotated[Path, typer.Argument(help="Training-set HDF5 written by 'pxrdsolve dataset'.",
                                         show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Checkpoint file (HDF5); rewritten every "
                                         "--checkpoint-every steps, on SIGTERM and at the end.")] = Path("model.h5"),
    preset: Annotated[str, typer.Option("--preset", help="Model/training preset, measured on 1 thread of a "
                                        "loaded 2-core CPU with 256 MP-20 rows (benchmarks/train_speed.py): "
                                        "tiny (tests; 200 steps, 5.5 s end to end), small (10,000 steps at "
                                        "9.6 steps/s: ~18 min of steps plus validation; not a useful model "
                                        "yet), paper (PXRDNet-sized; 0.29 steps/s at batch 256, so its "
                                        "200,000 steps take ~8 days on a CPU: use a GPU).")] = "small",
    config_file: Annotated[Path | None, typer.Option("--config", help="JSON config file (the JSON in "
                                                     "the config attribute of a checkpoint); overrides "
                                                     "--preset.")] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="Total optimizer steps (LR schedule length) "
                                              "(default: the preset's).")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Crystals per step and process "
                                                   "(default: the preset's).")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Peak learning rate (default: the preset's).")] = None,
    checkpoint_every: Annotated[int | None, typer.Option("--checkpoint-every", help="Steps between "
                                                         "checkpoints (default: the preset's).")] = None,
    simulator: Annotated[str | None, typer.Option("--simulator", help="Pattern simulator for the on-the-fly "
                                                  "augmentation: pxrdnet (default) or toy.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from --output if it exists (its config "
                                         "is used; --steps may extend the run).")] = False,
    device: t.Device = "cpu",
    seed: Annotated[int, typer.Option("--seed", help="Seed of weights init, batch order and augmentation.")] = 0,
    log: Annotated[Path | None, typer.Option("--log", help="JSONL loss log (default: OUTPUT with suffix "
                                             ".log.jsonl); appended to on --resume.")] = None,
    export: Annotated[Path | None, typer.Option("--export", help="Also write an inference-only checkpoint "
                                                "(EMA weights, float16) to this file at the end.")] = None,
    quiet: t.Quiet = False,
    json_out: t.Json = False,
) -> None:
    """Train the PXRD-conditioned generative model (or resume training).

    Patterns are simulated on the fly for every batch (random nanocrystal size τ 5–200 Å or bulk,
    PXRDNet's Gaussian, noise, random Q-range cuts). Under torchrun (RANK/WORLD_SIZE set) training is
    data-parallel; only rank 0 writes files. SIGTERM saves a checkpoint and stops; rerun with --resume.

    Exit status: 0 done, 2 unusable input (one line on stderr).
    """
    from pxrdsolve.errors import InputError
    from pxrdsolve.model.config import PRESETS, Config
    from pxrdsolve.model.config import preset as get_preset
    from pxrdsolve.training.loop import train_model

    console = stderr_console(quiet)
    if preset not in PRESETS:
        raise InputError(f"unknown --preset {preset!r}: use {', '.join(PRESETS)}")
    config = None
    if config_file is not None:
        try:
            config = Config.from_json(config_file.read_text())
        except (OSError, ValueError, TypeError) as exc:
            raise InputError(f"{config_file}: unreadable config ({exc})") from None
    elif not (resume and output.exists()):
        config = get_preset(preset)
    if resume and output.exists() and config is None:
        from pxrdsolve.model.checkpoint import load_checkpoint

        config = load_checkpoint(output).config
    overrides = {k: v for k, v in (("batch_size", batch_size), ("lr", lr), ("checkpoint_every", checkpoint_every))
                 if v is not None}
    for name, value in overrides.items():
        if value <= 0:
            raise InputError(f"--{name.replace('_', '-')} must be positive, got {value}")
    if steps is not None and steps <= 0:
        raise InputError(f"--steps must be positive, got {steps}")
    if overrides:
        config = config.replace(train=overrides)
    if simulator is not None:
        if simulator not in ("pxrdnet", "toy"):
            raise InputError(f"unknown --simulator {simulator!r}: use pxrdnet or toy")
        config = config.replace(augment={"simulator": simulator})
    result = train_model(data, output, config, total_steps=steps, seed=seed, device=device, resume=resume,
                         log_path=log, quiet=quiet)
    if export is not None:
        from pxrdsolve.model.checkpoint import export_checkpoint

        export_checkpoint(result.checkpoint, export)
    state = "stopped by signal" if result.interrupted else "done"
    console.print(f"{state}: step {result.step}, train loss {result.train_loss}, val loss {result.val_loss}, "
                  f"{result.seconds:.0f} s → {result.checkpoint}"
                  + (" (rerun with --resume to continue)" if result.interrupted else ""))
    if json_out:
        from dataclasses import asdict

        emit_json({**asdict(result), "export": str(export) if export else None})


@handle_errors
def dataset(
    inputs: Annotated[list[Path], typer.Argument(help="CDVAE-style CSV files (columns cif, material_id, "
                                                 "optional mp20_known_split).", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Training-set HDF5 to write.")] = Path("train.h5"),
    exclude_ids_from: Annotated[list[Path] | None, typer.Option("--exclude-ids-from", help="CSV whose "
                                "material_id values are dropped (e.g. PXRDNet's test split); repeatable.")] = None,
    holdout_formulas: Annotated[Path | None, typer.Option("--holdout-formulas", help="CSV whose reduced "
                                "formulas are all dropped (composition-held-out split).")] = None,
    keep_test: Annotated[bool, typer.Option("--keep-test", help="Keep rows with mp20_known_split = test "
                                            "(dropped by default).")] = False,
    max_atoms: Annotated[int, typer.Option("--max-atoms", help="Largest cell kept (atoms).")] = 20,
    val_fraction: Annotated[float, typer.Option("--val-fraction", help="Random fraction held out for "
                                                "validation.")] = 0.05,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the train/val split.")] = 0,
    workers: Annotated[int | None, typer.Option("--workers", help="CIF-parsing processes (default: CPU "
                                                "count, at most 8).")] = None,
    quiet: t.Quiet = False,
    json_out: t.Json = False,
) -> None:
    """Build a training set (HDF5) from CSV files of CIFs (needs pymatgen; run once, on any machine).

    Rows that fail to parse, are disordered, have elements beyond Z = 100 or more than --max-atoms atoms
    are skipped and counted.

    Exit status: 0 done, 2 unusable input (one line on stderr).
    """
    from pxrdsolve.errors import InputError
    from pxrdsolve.training.dataset import build_dataset, read_csv_rows, read_ids

    console = stderr_console(quiet)
    if not 0.0 <= val_fraction < 1.0:
        raise InputError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    if max_atoms < 1:
        raise InputError(f"--max-atoms must be positive, got {max_atoms}")
    excluded: set[str] = set()
    for path in exclude_ids_from or []:
        excluded |= read_ids(path)
    total = len(read_csv_rows(inputs))
    with progress_bar(total, "parsing CIFs", quiet) as advance:
        summary = build_dataset(inputs, output, exclude_ids=excluded, holdout_formulas_csv=holdout_formulas,
                                max_atoms=max_atoms, val_fraction=val_fraction, seed=seed,
                                drop_splits=() if keep_test else ("test",), workers=workers, progress=advance)
    dropped = ", ".join(f"{k} {v}" for k, v in sorted(summary.dropped.items())) or "none"
    console.print(f"{summary.kept} of {summary.rows} structures kept ({summary.train} train, {summary.val} val); "
                  f"dropped: {dropped} → {summary.path}")
    if json_out:
        from dataclasses import asdict

        emit_json(asdict(summary))
