"""The ``pxrdsolve`` Typer application: registers the commands, nothing else."""

from __future__ import annotations

from typing import Annotated

import typer

from pxrdsolve import __version__

app = typer.Typer(
    name="pxrdsolve",
    help=(
        "Solve crystal structures from powder X-ray diffraction patterns, including nanocrystals.\n\n"
        "Units: Q in Å⁻¹ (the canonical axis), 2θ in degrees, sizes and wavelengths in Å. "
        "Exit status: 0 ok, 1 no confident answer, 2 unusable input."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pxrdsolve {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """pxrdsolve command line."""


_registered = False


def _flags_without_type_label() -> None:
    """Help shows ``--json`` rather than ``--json <bool>``: a flag takes no value, so it has no type
    to show (typer labels every option with its Python type)."""
    from typer.core import TyperOption

    if getattr(TyperOption, "_pxrdsolve_flags", False):
        return
    shown = TyperOption.display_type_rich

    def display_type_rich(self, ctx):
        return None if self.is_flag else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich
    TyperOption._pxrdsolve_flags = True


def register() -> typer.Typer:
    """Add the commands to :data:`app` (once) and return it."""
    global _registered
    _flags_without_type_label()
    if not _registered:
        from pxrdsolve.cli import broaden, calibrate, evaluate, inspect, library, simulate, train
        from pxrdsolve.cli import solve as solve_cli

        app.command("simulate")(simulate.simulate)
        app.command("broaden")(broaden.broaden)
        app.command("inspect")(inspect.inspect)
        app.command("solve")(solve_cli.solve)
        app.command("rank")(solve_cli.rank)
        app.command("evaluate")(evaluate.evaluate)
        app.command("library")(library.library)
        app.command("dataset")(train.dataset)
        app.command("train")(train.train)
        app.command("calibrate")(calibrate.calibrate)
        _registered = True
    return app


def main() -> None:
    """Console-script entry point."""
    register()()
